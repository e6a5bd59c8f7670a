// Package settings serves the tenant settings of the management console
// (seed 000 §1.10, §11, §12): on-demand app generation, auto-creation of
// groups from the identity provider, dynamic license assignment, the API
// key switch and limits, and the event retention. Tenant admins read and
// change them in the console; a change is a compare-and-swap on the
// settings' version and is recorded as a settings.updated event.
package settings

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/guard"
	"github.com/rulekeeper/rulekeeper/resources/identity"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// EventSource is the source of settings events.
const EventSource = "com.rulekeeper/settings"

// Limits of the numeric settings.
const (
	MaxExpiryDays    = 3650
	MaxKeysPerUser   = 100
	MaxRetentionDays = 3650
)

// Handlers serve /settings.
type Handlers struct {
	Store *store.Store
	Guard *guard.Guard
	// Changed, when set, is called after every change, before answering
	// (identity drops its cached API keys: the switch may have moved).
	Changed func()
}

// Register mounts the routes on r (already authenticated).
func (h *Handlers) Register(r fiber.Router) {
	r.Get("/settings", h.get)
	r.Patch("/settings", h.patch)
}

var resource = authz.Resource{Type: "settings"}

func (h *Handlers) get(c fiber.Ctx) error {
	if err := h.Guard.Require(c, guard.Console, "read", resource); err != nil {
		return err
	}
	s, err := h.Store.Settings.Get(c.Context())
	if err != nil {
		return err
	}
	return c.JSON(s)
}

// patchBody names the settings to change; absent fields stay as they are.
type patchBody struct {
	OnDemandApps        *bool  `json:"onDemandApps"`
	AutoCreateGroups    *bool  `json:"autoCreateGroups"`
	DynamicProfessional *bool  `json:"dynamicProfessional"`
	DynamicAnalyzer     *bool  `json:"dynamicAnalyzer"`
	APIKeysEnabled      *bool  `json:"apiKeysEnabled"`
	APIKeyMaxExpiryDays *int   `json:"apiKeyMaxExpiryDays"`
	APIKeyMaxPerUser    *int   `json:"apiKeyMaxPerUser"`
	EventRetentionDays  *int   `json:"eventRetentionDays"`
	Version             *int64 `json:"version"` // when given, must be the current version
}

func (b *patchBody) validate() error {
	for _, r := range []struct {
		field    string
		v        *int
		min, max int
		what     string
	}{
		{"apiKeyMaxExpiryDays", b.APIKeyMaxExpiryDays, 1, MaxExpiryDays, "the longest an API key may live, in days"},
		{"apiKeyMaxPerUser", b.APIKeyMaxPerUser, 1, MaxKeysPerUser, "the most active API keys one user may hold"},
		{"eventRetentionDays", b.EventRetentionDays, 0, MaxRetentionDays, "how many days events are kept (0 keeps them forever)"},
	} {
		if r.v != nil && (*r.v < r.min || *r.v > r.max) {
			return apierror.Field("out_of_range", r.field,
				fmt.Sprintf("%s is %s, from %d to %d", r.field, r.what, r.min, r.max))
		}
	}
	if b.OnDemandApps == nil && b.AutoCreateGroups == nil && b.DynamicProfessional == nil && b.DynamicAnalyzer == nil &&
		b.APIKeysEnabled == nil && b.APIKeyMaxExpiryDays == nil && b.APIKeyMaxPerUser == nil && b.EventRetentionDays == nil {
		return apierror.Field("empty_patch", "body", "name at least one setting to change")
	}
	return nil
}

func (h *Handlers) patch(c fiber.Ctx) error {
	var body patchBody
	if err := apierror.DecodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if err := body.validate(); err != nil {
		return err
	}
	if err := h.Guard.Require(c, guard.Console, "update", resource); err != nil {
		return err
	}
	ctx := c.Context()
	cur, err := h.Store.Settings.Get(ctx)
	if err != nil {
		return err
	}
	if body.Version != nil && *body.Version != cur.Version {
		return conflict(cur.Version)
	}
	next := *cur
	changes := map[string]any{}
	setBool := func(field string, to *bool, dst *bool) {
		if to != nil && *to != *dst {
			changes[field] = map[string]any{"from": *dst, "to": *to}
			*dst = *to
		}
	}
	setInt := func(field string, to *int, dst *int) {
		if to != nil && *to != *dst {
			changes[field] = map[string]any{"from": *dst, "to": *to}
			*dst = *to
		}
	}
	setBool("onDemandApps", body.OnDemandApps, &next.OnDemandApps)
	setBool("autoCreateGroups", body.AutoCreateGroups, &next.AutoCreateGroups)
	setBool("dynamicProfessional", body.DynamicProfessional, &next.DynamicProfessional)
	setBool("dynamicAnalyzer", body.DynamicAnalyzer, &next.DynamicAnalyzer)
	setBool("apiKeysEnabled", body.APIKeysEnabled, &next.APIKeysEnabled)
	setInt("apiKeyMaxExpiryDays", body.APIKeyMaxExpiryDays, &next.APIKeyMaxExpiryDays)
	setInt("apiKeyMaxPerUser", body.APIKeyMaxPerUser, &next.APIKeyMaxPerUser)
	setInt("eventRetentionDays", body.EventRetentionDays, &next.EventRetentionDays)
	if len(changes) == 0 {
		return c.JSON(cur) // nothing changes: no new version, no event
	}
	saved, err := h.Store.Settings.Replace(ctx, next)
	if errors.Is(err, store.ErrConflict) {
		return conflict(cur.Version)
	}
	if err != nil {
		return err
	}
	if h.Changed != nil {
		h.Changed()
	}
	if err := h.Store.Events.Add(ctx, EventSource, "settings.updated", identity.CallerOf(c).User.ID,
		map[string]any{"changes": changes, "version": saved.Version}); err != nil {
		return err
	}
	return c.JSON(saved)
}

func conflict(current int64) error {
	return apierror.New(http.StatusConflict, "version_conflict",
		"the settings changed since you read them; read them again and retry", map[string]any{"field": "version", "version": current})
}
