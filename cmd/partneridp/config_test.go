package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/idp/samlresp"
)

func TestExampleConfigParses(t *testing.T) {
	cfg, err := LoadConfig("../../partneridp.example.yaml", nil)
	if err != nil {
		t.Fatalf("the example config must stay valid: %v", err)
	}
	if cfg.IdP.EntityID != "https://idp.partner.example/saml/metadata" || cfg.Huawei.Site != "cn" {
		t.Errorf("unexpected values: %+v", cfg.IdP.EntityID)
	}
	if cfg.IdP.AssertionTTL.Minutes() != 5 || cfg.IdP.ClockSkew.Minutes() != 3 {
		t.Errorf("durations: %v %v", cfg.IdP.AssertionTTL, cfg.IdP.ClockSkew)
	}
	// The example names files an operator makes; they are absent in the repo.
	missing := strings.Join(cfg.CheckFiles(), "\n")
	for _, want := range []string{"idp.signing.key_file", "idp.signing.cert_file", "platforms[0].public_key_file"} {
		if !strings.Contains(missing, want) {
			t.Errorf("CheckFiles should name %s; got:\n%s", want, missing)
		}
	}
}

const minimalConfig = `
public_url: https://idp.example
huawei: {x_account_type: t_IDP}
idp: {signing: {key_file: k, cert_file: c}}
platforms: [{name: p, issuer: https://p, audience: https://idp.example, alg: HS256, secret_file: s}]
`

func TestConfigProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings, every one must be reported
	}{
		{"minimal is fine", minimalConfig, nil},
		{"unknown key", minimalConfig + "bogus: 1\n", []string{"field bogus not found"}},
		{"bad duration and bad site together", minimalConfig + "session: {lifetime: forever}\n",
			[]string{`"forever" is not a duration`}},
		{"http without development", strings.Replace(minimalConfig, "https://idp.example", "http://idp.example", 1),
			[]string{"public_url", "must use https"}},
		{"http with development", "development: true\n" + strings.Replace(minimalConfig, "https://idp.example", "http://idp.example", 1), nil},
		{"several mistakes at once", `
public_url: ftp://x
huawei: {site: mars}
platforms: [{name: a, alg: none}, {name: a, alg: RS256, issuer: i, audience: a}]
idp: {clock_skew: 1h, attributes: {add: [{name: x, value: v, claim: c}]}}
log: {format: xml}
`, []string{"public_url", "idp.signing", "huawei.site", "x_account_type", "platforms[0].alg", "platforms[1].name", "exactly one of public_key_file or jwks_file", "idp.clock_skew", "exactly one of value or claim", "log.format"}},
		{"custom site needs metadata and login", strings.Replace(minimalConfig, "{x_account_type: t_IDP}", "{x_account_type: t_IDP, site: custom}", 1),
			[]string{"huawei.sp_metadata", "huawei.login_url"}},
		{"service host with scheme", strings.Replace(minimalConfig, "{x_account_type: t_IDP}", "{x_account_type: t_IDP, service_hosts: [\"https://evil\"]}", 1),
			[]string{"service_hosts[0]"}},
		{"short x_account_type fine, long refused", strings.Replace(minimalConfig, "t_IDP", strings.Repeat("x", 65), 1),
			[]string{"longer than 64"}},
		{"yaml syntax", "public_url: [\n", []string{"yaml"}},
		{"unknown store type", minimalConfig + "store: {type: redis}\n", []string{`store.type: "redis" is unknown (choose one of bolt, etcd, memory)`}},
		{"memory store", minimalConfig + "store: {type: memory}\n", nil},
		{"pprof on loopback admin", minimalConfig + "admin: {listen: \"127.0.0.1:9464\", pprof: true}\n", nil},
		{"pprof on a public admin address", minimalConfig + "admin: {listen: \"0.0.0.0:9464\", pprof: true}\n", []string{"admin.pprof: needs a loopback admin.listen"}},
		{"pprof without admin", minimalConfig + "admin: {listen: \"off\", pprof: true}\n", []string{"admin.pprof: needs the admin listener"}},
		{"etcd store", minimalConfig + "store: {type: etcd, etcd: {endpoints: [\"https://etcd-1:2379\"], username: u, password_env: PW}}\nsession: {secret_file: s}\n", nil},
		{"etcd store, every mistake", minimalConfig + "store: {type: etcd, etcd: {endpoints: [\"etcd-1:2379\", \"https://e/x\"], prefix: nolead, cert_file: c.crt, username: u, password_file: pw, password_env: PW, dial_timeout: 2h, request_timeout: -1s}}\n",
			[]string{"store.etcd.endpoints[0]", "store.etcd.endpoints[1]", "store.etcd.prefix", "set both cert_file and key_file", "password_file or password_env, not both", "store.etcd.dial_timeout", "store.etcd.request_timeout", "session.secret_file: required with store.type etcd"}},
		{"etcd store without endpoints or password", minimalConfig + "store: {type: etcd, etcd: {username: u}}\nsession: {secret_file: s}\n",
			[]string{"store.etcd.endpoints: list", "needs password_file or password_env"}},
		{"webhook and api fine", strings.Replace(minimalConfig, "secret_file: s}]", "secret_file: s, api: {enabled: true, x_account_type: t_IDP}, webhook: {url: \"https://shop.example/hooks\", secret_file: wh, give_up_after: 6h}}]", 1), nil},
		{"webhook over http without development", strings.Replace(minimalConfig, "secret_file: s}]", "secret_file: s, webhook: {url: \"http://shop.example/hooks\", secret_file: wh}}]", 1),
			[]string{"platforms[0].webhook.url", "must use https"}},
		{"webhook over http with development", "development: true\n" + strings.Replace(minimalConfig, "secret_file: s}]", "secret_file: s, webhook: {url: \"http://localhost:9/hooks\", secret_file: wh}}]", 1), nil},
		{"webhook without url, secret or sane give_up_after", strings.Replace(minimalConfig, "secret_file: s}]", "secret_file: s, webhook: {give_up_after: 5s}}]", 1),
			[]string{"platforms[0].webhook.url: required", "platforms[0].webhook.secret_file: required", "platforms[0].webhook.give_up_after: 5s is outside 1m0s to 720h0m0s"}},
		{"webhook url not a URL", strings.Replace(minimalConfig, "secret_file: s}]", "secret_file: s, webhook: {url: \"shop.example/hooks\", secret_file: wh, give_up_after: 1000h}}]", 1),
			[]string{"platforms[0].webhook.url", "not an absolute http(s) URL", "give_up_after: 1000h0m0s is outside"}},
		{"api x_account_type too long", strings.Replace(minimalConfig, "secret_file: s}]", "secret_file: s, api: {enabled: true, x_account_type: "+strings.Repeat("x", 65)+"}}]", 1),
			[]string{"platforms[0].api.x_account_type: longer than 64"}},
		{"partner api fine", strings.Replace(minimalConfig, "{x_account_type: t_IDP}", "{x_account_type: t_IDP, partner_api: {ak_file: ak, sk_env: HW_SK, domain_id: d0, endpoint: \"https://bss.example\", timeout: 10s}}", 1), nil},
		{"partner api: every mistake", strings.Replace(minimalConfig, "{x_account_type: t_IDP}", "{x_account_type: t_IDP, partner_api: {ak_file: ak, ak_env: HW_AK, sk_env: \"bad name\", endpoint: \"http://bss.example\", timeout: 1m}}", 1),
			[]string{"set ak_file or ak_env, not both", "huawei.partner_api.sk_env: \"bad name\" is not an environment variable name", "huawei.partner_api.domain_id: required", "huawei.partner_api.endpoint", "must use https", "huawei.partner_api.timeout: 1m0s is outside 1s to 20s"}},
		{"partner api: no keys, tiny timeout", strings.Replace(minimalConfig, "{x_account_type: t_IDP}", "{x_account_type: t_IDP, partner_api: {domain_id: d0, timeout: 10ms}}", 1),
			[]string{"set ak_file (chmod 600) or ak_env", "set sk_file (chmod 600) or sk_env", "timeout: 10ms is outside"}},
		{"attributes: unknown profiles, here and per SP", strings.Replace(minimalConfig, "idp: {signing: {key_file: k, cert_file: c}}",
			"idp: {signing: {key_file: k, cert_file: c}, attributes: {profile: okta, by_sp: {\"https://auth-intl.huaweicloud.com/\": {profile: azure, add: [{name: t}]}, \" \": {}}}}", 1),
			[]string{`idp.attributes.profile: "okta" is unknown (known: huawei)`,
				`idp.attributes.by_sp["https://auth-intl.huaweicloud.com/"].profile: "azure" is unknown (known: huawei)`,
				`idp.attributes.by_sp["https://auth-intl.huaweicloud.com/"].add[0]: set exactly one of value or claim`,
				`idp.attributes.by_sp[" "]: the key must be an SP entityID`}},
		{"attributes per SP", strings.Replace(minimalConfig, "idp: {signing: {key_file: k, cert_file: c}}",
			"idp: {signing: {key_file: k, cert_file: c}, attributes: {drop: [bpId], by_sp: {\"https://auth-intl.huaweicloud.com/\": {drop: [mobile]}}}}", 1), nil},
		{"no platforms", "public_url: https://idp.example\nhuawei: {x_account_type: t}\nidp: {signing: {key_file: k, cert_file: c}}\n", []string{"at least one partner platform"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkConfigProblems(t, tt.yaml, tt.want) })
	}
}

// checkConfigProblems parses yaml: no error when want is empty, else one
// *ConfigError that mentions every string in want.
func checkConfigProblems(t *testing.T, yaml string, want []string) {
	t.Helper()
	_, err := ParseConfig([]byte(yaml), t.TempDir(), nil)
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("want *ConfigError, got %v", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q:\n%v", w, err)
		}
	}
}

func TestEnvOverrides(t *testing.T) {
	env := map[string]string{"PARTNERIDP_SIGNING_KEY_FILE": "/run/secrets/key", "PARTNERIDP_PUBLIC_URL": "https://other.example"}
	cfg, err := ParseConfig([]byte(minimalConfig), "/etc/partneridp", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.IdP.Signing.KeyFile != "/run/secrets/key" || cfg.PublicURL != "https://other.example" {
		t.Errorf("overrides not applied: %q %q", cfg.IdP.Signing.KeyFile, cfg.PublicURL)
	}
	if got := cfg.Path("k"); got != filepath.Join("/etc/partneridp", "k") {
		t.Errorf("relative path: %s", got)
	}
}

func TestLoadConfigRefusesHugeFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(p, []byte("# "+strings.Repeat("x", maxConfigBytes)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(p, nil)
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "larger than 1 MiB") {
		t.Fatalf("want size error, got %v", err)
	}
}

func FuzzParseConfig(f *testing.F) {
	example, err := os.ReadFile("../../partneridp.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(minimalConfig))
	f.Add([]byte("idp: {clock_skew: 1h}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data, "", nil)
		if err == nil && cfg == nil {
			t.Fatal("nil config without error")
		}
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("error is not a ConfigError with problems: %v", err)
			}
		}
	})
}

func TestAttributeProfilesBySP(t *testing.T) {
	yaml := strings.Replace(minimalConfig, "idp: {signing: {key_file: k, cert_file: c}}",
		"idp: {signing: {key_file: k, cert_file: c}, attributes: {drop: [bpId], by_sp: {\"https://auth-intl.huaweicloud.com/\": {drop: [mobile, email]}}}}", 1)
	cfg, err := ParseConfig([]byte(yaml), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	def, bySP, err := attributeProfiles(cfg)
	if err != nil {
		t.Fatal(err)
	}
	names := func(p samlresp.Profile) string {
		var out []string
		for _, a := range p.Attributes {
			out = append(out, a.Name)
		}
		return strings.Join(out, ",")
	}
	if got := names(def); got != "xUserId,xAccountId,name,mobile,email" {
		t.Errorf("default profile = %s", got)
	}
	// A per-SP profile starts from its named profile, not from the default's changes.
	if got := names(bySP["https://auth-intl.huaweicloud.com/"]); got != "xUserId,xAccountId,name,bpId" {
		t.Errorf("per-SP profile = %s", got)
	}

	cfg.IdP.Attributes.BySP["https://auth-intl.huaweicloud.com/"] = ProfileConfig{Profile: "huawei", Drop: []string{"nope"}}
	if _, _, err := attributeProfiles(cfg); err == nil || !strings.Contains(err.Error(), `idp.attributes.by_sp["https://auth-intl.huaweicloud.com/"]: samlresp: invalid attribute profile: drop "nope"`) {
		t.Errorf("err = %v", err)
	}
}

const twoSiteConfig = `
public_url: https://idp.example
idp: {signing: {key_file: k, cert_file: c}}
huawei_sites:
  - {site: cn, x_account_type: shop_IDP}
  - {site: intl, x_account_type: shop_intl_IDP, service_hosts: [console-intl.huaweicloud.com]}
platforms:
  - {name: shop, issuer: https://shop.example, audience: https://idp.example, alg: HS256, secret_file: s, login_url: https://shop.example/login, x_account_types: [shop_IDP]}
  - {name: shop-intl, issuer: https://shop.example/intl, audience: https://idp.example, alg: HS256, secret_file: s, login_url: https://intl.shop.example/login, x_account_types: [shop_intl_IDP]}
`

func TestHuaweiSitesConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(twoSiteConfig), t.TempDir(), func(name string) string {
		if name == "PARTNERIDP_SP_METADATA" {
			return "cn-sp.xml" // applies to the first site
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	sites := cfg.Sites()
	if len(sites) != 2 || sites[0].Name != "cn" || sites[1].Name != "intl" || sites[1].SPRefresh.Duration != 24*time.Hour {
		t.Fatalf("sites = %+v", sites)
	}
	if sites[0].SPMetadata != "cn-sp.xml" || sites[1].SPMetadata != "" {
		t.Errorf("PARTNERIDP_SP_METADATA went to %q / %q, want the first site", sites[0].SPMetadata, sites[1].SPMetadata)
	}
	// Commands that work on one site see the first.
	if cfg.Huawei.XAccountType != "shop_IDP" || cfg.Huawei.Name != "cn" {
		t.Errorf("huawei = %+v, want the first site", cfg.Huawei)
	}
	for _, tc := range []struct{ xAccountType, owner string }{{"shop_IDP", "shop"}, {"shop_intl_IDP", "shop-intl"}} {
		if pl, ok := siteOwner(cfg, tc.xAccountType); !ok || pl.Name != tc.owner {
			t.Errorf("owner of %s = %q, %v; want %s", tc.xAccountType, pl.Name, ok, tc.owner)
		}
	}
	if problems := cfg.Validate(); len(problems) > 0 {
		t.Errorf("validating again: %v", problems)
	}
}

func TestHuaweiSitesConfigProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"two sites fine", twoSiteConfig, nil},
		{"one site in the list, one platform", strings.Replace(minimalConfig, "huawei: {x_account_type: t_IDP}", "huawei_sites: [{x_account_type: t_IDP}]", 1), nil},
		{"huawei and huawei_sites", minimalConfig + "huawei_sites: [{x_account_type: t2_IDP}]\n",
			[]string{"huawei and huawei_sites are both set"}},
		{"what must differ between sites", strings.Replace(twoSiteConfig, "{site: intl, x_account_type: shop_intl_IDP,", "{site: cn, x_account_type: shop_IDP,", 1),
			[]string{`huawei_sites[1].name: "cn" is also the name of huawei_sites[0]`,
				`huawei_sites[1].x_account_type: "shop_IDP" is also the x_account_type of huawei_sites[0]`,
				"huawei_sites[1]: its SP metadata is also that of huawei_sites[0] (https://auth.huaweicloud.com/authui/saml/metadata.xml)",
				`platforms[1].x_account_types[0]: "shop_intl_IDP" is no configured site's x_account_type`}},
		{"a site no platform owns", strings.Replace(twoSiteConfig, "x_account_types: [shop_intl_IDP]", "x_account_types: []", 1),
			[]string{`huawei_sites[1].x_account_type: no platform owns "shop_intl_IDP": add it to the x_account_types`}},
		{"a site two platforms own", strings.Replace(twoSiteConfig, "x_account_types: [shop_IDP]", "x_account_types: [shop_IDP, shop_intl_IDP]", 1),
			[]string{`huawei_sites[1].x_account_type: "shop_intl_IDP" is owned by several platforms (shop, shop-intl)`}},
		{"every site checked as huawei was", strings.Replace(twoSiteConfig, "{site: intl, x_account_type: shop_intl_IDP,", "{site: custom, name: \"EU site\",", 1),
			[]string{"huawei_sites[1].sp_metadata: required when huawei_sites[1].site is custom", "huawei_sites[1].login_url: required",
				`huawei_sites[1].name: "EU site" must be 1 to 64 of a-z, 0-9`, "huawei_sites[1].x_account_type: required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkConfigProblems(t, tt.yaml, tt.want) })
	}
}

// The example config's commented huawei_sites block, put in place of its
// huawei section, is a valid two-site config.
func TestExampleConfigSitesBlock(t *testing.T) {
	data, err := os.ReadFile("../../partneridp.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	inHuawei, inBlock := false, false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case line == "# huawei_sites:":
			inBlock = true
			out = append(out, "huawei_sites:")
			continue
		case inBlock && strings.HasPrefix(line, "#   "):
			out = append(out, strings.TrimPrefix(line, "# "))
			continue
		case line == "huawei:":
			inBlock, inHuawei = false, true
			continue
		case inHuawei && (strings.HasPrefix(line, " ") || line == ""):
			continue
		}
		inBlock, inHuawei = false, false
		out = append(out, line)
	}
	cfg, err := ParseConfig([]byte(strings.Join(out, "\n")), t.TempDir(), nil)
	if err != nil {
		t.Fatalf("the example's huawei_sites block: %v", err)
	}
	if len(cfg.HuaweiSites) != 2 || cfg.HuaweiSites[1].Name != "intl" || cfg.HuaweiSites[1].XAccountType != "example_intl_IDP" {
		t.Errorf("sites = %+v", cfg.HuaweiSites)
	}
}
