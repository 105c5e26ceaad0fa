package metadata

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestSites(t *testing.T) {
	for _, name := range []string{"cn", "intl", "eu"} {
		s, err := SiteByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if s.Name != name {
			t.Errorf("%s: Name = %q", name, s.Name)
		}
		for field, v := range map[string]string{
			"AuthBaseURL": s.AuthBaseURL, "LoginURL": s.LoginURL, "ConsoleURL": s.ConsoleURL,
			"SPMetadataURL": s.SPMetadataURL, "SPEntityID": s.SPEntityID, "ACSURL": s.ACSURL,
		} {
			u, err := url.Parse(v)
			if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" {
				t.Errorf("%s.%s = %q: want an https URL without query", name, field, v)
			}
			if !strings.HasSuffix(u.Host, "huaweicloud.com") {
				t.Errorf("%s.%s host %q is not Huawei Cloud", name, field, u.Host)
			}
		}
		if !strings.HasPrefix(s.LoginURL, s.AuthBaseURL) || !strings.HasSuffix(s.LoginURL, "/authui/saml/login") {
			t.Errorf("%s: LoginURL %q", name, s.LoginURL)
		}
		if !strings.HasSuffix(s.SPMetadataURL, "/authui/saml/metadata.xml") {
			t.Errorf("%s: SPMetadataURL %q", name, s.SPMetadataURL)
		}
	}
	cn, _ := SiteByName(" CN ")
	if cn.SPEntityID != "https://auth.huaweicloud.com/" || cn.ACSURL != "https://auth.huaweicloud.com/authui/saml/SAMLAssertionConsumer" || cn.ConsoleURL != "https://console.huaweicloud.com/iam/" {
		t.Errorf("cn preset = %+v", cn)
	}
	// The cn preset must agree with Huawei's real SP metadata.
	sp, err := ParseSP(huaweiSPMetadata(t), SPLoadOptions{PinnedCert: huaweiSPCert(t), Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if acs, _ := sp.DefaultACS(); sp.EntityID != cn.SPEntityID || acs.Location != cn.ACSURL {
		t.Errorf("cn preset disagrees with sp-metadata-cn.xml: %s %s", sp.EntityID, acs.Location)
	}
	if _, err := SiteByName("us"); !errors.Is(err, ErrUnknownSite) || !strings.Contains(err.Error(), "cn, eu, intl") {
		t.Errorf("unknown site: err = %v", err)
	}
}
