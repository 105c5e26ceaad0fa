package platformapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/global"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/response"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	bss "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/bss/v2"
	bssmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/bss/v2/model"
	bssintl "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/bssintl/v2"
	intlmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/bssintl/v2/model"
)

// Huawei's BSS endpoints.
const (
	EndpointCN   = "https://bss.myhuaweicloud.com"
	EndpointIntl = "https://bss-intl.myhuaweicloud.com"
)

// HuaweiConfig configures the SDK-backed Partner.
type HuaweiConfig struct {
	Intl     bool   // bssintl (international site) instead of bss (China)
	Endpoint string // "" → EndpointCN / EndpointIntl
	AK, SK   string // the partner's access key; never logged
	// DomainID is the partner's own account ID; set, the SDK does not
	// look it up through IAM before the first call.
	DomainID string
	Timeout  time.Duration // per call; 0: 15s
}

// SDKPartner calls Huawei's partner API through the official Go SDK
// (github.com/huaweicloud/huaweicloud-sdk-go-v3, services/bss/v2 and
// services/bssintl/v2).
type SDKPartner struct {
	cn   *bss.BssClient
	intl *bssintl.BssintlClient
}

// String never shows the credentials.
func (c HuaweiConfig) String() string {
	return fmt.Sprintf("huawei partner API %s (intl=%v, ak=<redacted>)", c.Endpoint, c.Intl)
}

// NewSDKPartner builds the SDK client.
func NewSDKPartner(c HuaweiConfig) (*SDKPartner, error) {
	if c.AK == "" || c.SK == "" {
		return nil, errors.New("huawei partner API: AK and SK are required")
	}
	if c.DomainID == "" {
		return nil, errors.New("huawei partner API: domain_id (the partner's account ID) is required")
	}
	ep := c.Endpoint
	if ep == "" {
		ep = EndpointCN
		if c.Intl {
			ep = EndpointIntl
		}
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	cred, err := global.NewCredentialsBuilder().WithAk(c.AK).WithSk(c.SK).WithDomainId(c.DomainID).SafeBuild()
	if err != nil {
		return nil, fmt.Errorf("huawei partner API credentials: %w", err)
	}
	hc := config.DefaultHttpConfig().WithTimeout(timeout).WithRetries(0)
	p := &SDKPartner{}
	if c.Intl {
		cl, err := bssintl.BssintlClientBuilder().WithEndpoints([]string{ep}).WithCredential(cred).WithHttpConfig(hc).WithErrorHandler(keepDomainID{}).SafeBuild()
		if err != nil {
			return nil, fmt.Errorf("huawei partner API client: %w", err)
		}
		p.intl = bssintl.NewBssintlClient(cl)
	} else {
		cl, err := bss.BssClientBuilder().WithEndpoints([]string{ep}).WithCredential(cred).WithHttpConfig(hc).WithErrorHandler(keepDomainID{}).SafeBuild()
		if err != nil {
			return nil, fmt.Errorf("huawei partner API client: %w", err)
		}
		p.cn = bss.NewBssClient(cl)
	}
	return p, nil
}

func strp(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// CreateCustomer: see Partner.
func (p *SDKPartner) CreateCustomer(ctx context.Context, req CreateCustomerRequest) (CreatedCustomer, error) {
	var id, name *string
	err := runCtx(ctx, func() error {
		if p.intl != nil {
			res, err := p.intl.CreateSubCustomer(&intlmodel.CreateSubCustomerRequest{Body: &intlmodel.CreateCustomerV2Req{
				XaccountId: req.XAccountID, XaccountType: req.XAccountType, DomainName: strp(req.DomainName), DomainArea: req.CountryCode,
			}})
			if err == nil {
				id, name = res.DomainId, res.DomainName
			}
			return err
		}
		res, err := p.cn.CreateSubCustomer(&bssmodel.CreateSubCustomerRequest{Body: &bssmodel.CreateCustomerV2Req{
			XaccountId: req.XAccountID, XaccountType: req.XAccountType, DomainName: strp(req.DomainName), MobilePhone: strp(req.Mobile),
		}})
		if err == nil {
			id, name = res.DomainId, res.DomainName
		}
		return err
	})
	if err != nil {
		return CreatedCustomer{}, mapSDKError(err)
	}
	if id == nil || *id == "" {
		return CreatedCustomer{}, &HuaweiError{Status: 200, Code: "", Message: "Huawei's answer has no domain_id"}
	}
	out := CreatedCustomer{DomainID: *id}
	if name != nil {
		out.DomainName = *name
	}
	return out, nil
}

// CheckCustomer: see Partner.
func (p *SDKPartner) CheckCustomer(ctx context.Context, req CheckCustomerRequest) (CheckCustomerResult, error) {
	var result, code, msg *string
	err := runCtx(ctx, func() error {
		if p.intl != nil {
			res, err := p.intl.CheckUserIdentity(&intlmodel.CheckUserIdentityRequest{Body: &intlmodel.CheckSubcustomerUserReq{SearchType: req.SearchType, SearchValue: req.SearchValue}})
			if err == nil {
				result, code, msg = res.CheckResult, res.ErrorCode, res.ErrorMsg
			}
			return err
		}
		res, err := p.cn.CheckUserIdentity(&bssmodel.CheckUserIdentityRequest{Body: &bssmodel.CheckSubcustomerUserReq{SearchType: req.SearchType, SearchValue: req.SearchValue}})
		if err == nil {
			result, code, msg = res.CheckResult, res.ErrorCode, res.ErrorMsg
		}
		return err
	})
	if err != nil {
		return CheckCustomerResult{}, mapSDKError(err)
	}
	if code != nil && *code != "" && *code != "CBC.0000" {
		m := ""
		if msg != nil {
			m = *msg
		}
		return CheckCustomerResult{}, &HuaweiError{Status: 200, Code: *code, Message: m}
	}
	out := CheckCustomerResult{}
	if result != nil {
		out.Status = *result
	}
	return out, nil
}

// runCtx runs a blocking SDK call, giving up (not cancelling it) when ctx ends.
func runCtx(ctx context.Context, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %v", ErrHuaweiTimeout, ctx.Err())
	}
}

// maxErrorBody caps the error answer keepDomainID reads.
const maxErrorBody = 64 << 10

// keepDomainID is the SDK's error handler plus one thing: the SDK's own
// handler keeps only error_code and error_msg of an error answer, but
// Huawei's create-customer documents domain_id and domain_name in the
// answer carrying CBC.99000050 (the SDK model: "只有成功或者错误码在
// CBC.99000050时才会返回"). keepDomainID reads them too.
type keepDomainID struct{}

// sdkErrorWithDomain is the SDK's error with the domain Huawei named.
type sdkErrorWithDomain struct {
	*sdkerr.ServiceResponseError
	domainID, domainName string
}

func (e *sdkErrorWithDomain) Unwrap() error { return e.ServiceResponseError }

func (keepDomainID) HandleError(req *request.DefaultHttpRequest, resp *response.DefaultHttpResponse) error {
	if resp.GetStatusCode() < 400 {
		return nil
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Response.Body, maxErrorBody))
	resp.Response.Body.Close()
	resp.Response.Body = io.NopCloser(bytes.NewReader(raw))
	se := sdkerr.NewServiceResponseError(resp.Response)
	if err != nil {
		return se
	}
	var d struct {
		DomainID   string `json:"domain_id"`
		DomainName string `json:"domain_name"`
	}
	if json.Unmarshal(raw, &d) == nil && d.DomainID != "" {
		return &sdkErrorWithDomain{ServiceResponseError: se, domainID: d.DomainID, domainName: d.DomainName}
	}
	return se
}

func mapSDKError(err error) error {
	var se *sdkerr.ServiceResponseError
	if errors.As(err, &se) {
		he := &HuaweiError{Status: se.StatusCode, Code: se.ErrorCode, Message: se.ErrorMessage}
		var wd *sdkErrorWithDomain
		if errors.As(err, &wd) {
			he.DomainID, he.DomainName = wd.domainID, wd.domainName
		}
		return he
	}
	if errors.Is(err, ErrHuaweiTimeout) {
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %v", ErrHuaweiTimeout, redactURL(err))
	}
	if strings.Contains(err.Error(), "Client.Timeout") || strings.Contains(err.Error(), "deadline exceeded") {
		return fmt.Errorf("%w: %v", ErrHuaweiTimeout, redactURL(err))
	}
	return fmt.Errorf("%w: %v", ErrHuaweiUnreachable, redactURL(err))
}

// redactURL keeps the error's text but not a URL's query.
func redactURL(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + " " + ue.Err.Error()
	}
	return err.Error()
}
