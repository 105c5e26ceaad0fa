package handoff

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
)

// Form and query field names of the handoff endpoint (GET /sso/huawei?token=…&service=…).
const (
	FieldToken   = "token"
	FieldService = "service"
)

// maxHandoffBody bounds a POSTed handoff form: a maximal token, a maximal service and slack.
const maxHandoffBody = MaxTokenBytes + maxServiceLen + 1024

// Handoff is what a platform sends the browser to the bridge with.
type Handoff struct {
	Token   string
	Service string // raw; pass it to ServicePolicy.Resolve
}

// RequestError says why a handoff request could not be read; Status is the HTTP status to answer.
type RequestError struct {
	Status int
	Msg    string
}

func (e *RequestError) Error() string {
	return "handoff request refused (" + strconv.Itoa(e.Status) + "): " + e.Msg
}

func (e *RequestError) Is(target error) bool { return target == ErrBadRequest }

// ReadRequest takes token and service from the query of a GET, or from the
// application/x-www-form-urlencoded body of a POST (never both). A field given twice is refused.
// HEAD is refused too: a link checker's HEAD must not spend the single-use token.
func ReadRequest(r *http.Request) (Handoff, error) {
	var values url.Values
	var err error
	switch r.Method {
	case http.MethodGet:
		values, err = url.ParseQuery(r.URL.RawQuery)
	case http.MethodPost:
		if r.URL.RawQuery != "" {
			return Handoff{}, &RequestError{Status: http.StatusBadRequest, Msg: "a POSTed handoff carries token and service in the form body only, not in the URL"}
		}
		values, err = readForm(r)
	default:
		return Handoff{}, &RequestError{Status: http.StatusMethodNotAllowed, Msg: "use GET with a query or POST with a form"}
	}
	if err != nil {
		var re *RequestError
		if errors.As(err, &re) {
			return Handoff{}, re
		}
		return Handoff{}, &RequestError{Status: http.StatusBadRequest, Msg: "the query or form is not valid URL encoding"}
	}
	for _, f := range []string{FieldToken, FieldService} {
		if len(values[f]) > 1 {
			return Handoff{}, &RequestError{Status: http.StatusBadRequest, Msg: "field " + f + " is given more than once"}
		}
	}
	h := Handoff{Token: values.Get(FieldToken), Service: values.Get(FieldService)}
	if h.Token == "" {
		return Handoff{}, &RequestError{Status: http.StatusBadRequest, Msg: "token is missing: the platform must send ?token=<JWT> (or a POST form field token)"}
	}
	if len(h.Token) > MaxTokenBytes {
		return Handoff{}, &RequestError{Status: http.StatusRequestEntityTooLarge, Msg: "token is longer than " + strconv.Itoa(MaxTokenBytes) + " bytes"}
	}
	return h, nil
}

func readForm(r *http.Request) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, &RequestError{Status: http.StatusUnsupportedMediaType, Msg: "POST the handoff as application/x-www-form-urlencoded"}
	}
	if r.Body == nil {
		return url.Values{}, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxHandoffBody+1))
	if err != nil {
		return nil, &RequestError{Status: http.StatusBadRequest, Msg: "cannot read the form body"}
	}
	if len(body) > maxHandoffBody {
		return nil, &RequestError{Status: http.StatusRequestEntityTooLarge, Msg: "form body is larger than " + strconv.Itoa(maxHandoffBody) + " bytes"}
	}
	return url.ParseQuery(string(body))
}
