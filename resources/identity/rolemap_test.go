package identity_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/identity"
)

func TestParseRoleMap(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want map[string]string
		err  string
	}{
		{"", map[string]string{}, ""},
		{" rk-admins = TenantAdmin , devs=Developer,", map[string]string{"rk-admins": "TenantAdmin", "devs": "Developer"}, ""},
		{"a=Developer,a=Developer", map[string]string{"a": "Developer"}, ""},
		{"a=Developer,a=TenantAdmin", nil, "mapped twice"},
		{"admins", nil, "want idpRole=rulekeeperRole"},
		{"=TenantAdmin", nil, "want idpRole=rulekeeperRole"},
		{"admins=Overlord", nil, `"Overlord" is not a rulekeeper role`},
	} {
		got, err := identity.ParseRoleMap(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tt.want) {
			t.Errorf("%q: %v %v, want %v", tt.in, got, err, tt.want)
		}
	}
}

// FuzzParseRoleMap: any input is refused or gives a map onto rulekeeper
// roles whose keys are trimmed and non-empty.
func FuzzParseRoleMap(f *testing.F) {
	for _, s := range []string{"", "a=TenantAdmin", "a=b", "a=Developer,b=AuditAdmin", ",=,", "x = HubAdmin ,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := identity.ParseRoleMap(s)
		if err != nil {
			return
		}
		for k, v := range m {
			if k == "" || k != strings.TrimSpace(k) || strings.ContainsAny(k, ",=") || !slices.Contains(identity.AssignableRoles, v) {
				t.Fatalf("%q gave %q=%q", s, k, v)
			}
		}
	})
}
