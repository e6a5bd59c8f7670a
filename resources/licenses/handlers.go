package licenses

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/guard"
	"github.com/rulekeeper/rulekeeper/resources/idempotency"
	"github.com/rulekeeper/rulekeeper/resources/identity"
	"github.com/rulekeeper/rulekeeper/resources/listing"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// Handlers serve /licenses.
type Handlers struct {
	Service *Service
	Store   *store.Store
	Guard   *guard.Guard
}

// Register mounts the routes on r (already authenticated).
func (h *Handlers) Register(r fiber.Router) {
	r.Get("/licenses/overview", h.overview)
	r.Put("/licenses/key", h.putKey)
	r.Get("/licenses/assignments", h.list)
	r.Post("/licenses/assignments", h.assign)
	r.Delete("/licenses/assignments/:userId", h.remove)
}

var licenseResource = authz.Resource{Type: "license", ID: "license", Name: "License"}

type seats struct {
	Consumed int `json:"consumed"`
	Total    int `json:"total"`
}

type overview struct {
	KeyID            string    `json:"keyId"`
	Professional     seats     `json:"professional"`
	Analyzer         seats     `json:"analyzer"`
	AnalyzerCapacity any       `json:"analyzerCapacity"`
	Expires          time.Time `json:"expires"`
	Quotas           any       `json:"quotas"`
	Excluded         int       `json:"excluded"`
}

func (h *Handlers) overview(c fiber.Ctx) error {
	if err := h.Guard.RequireKnown(c, guard.Console, "read", licenseResource); err != nil {
		return err
	}
	ctx := c.Context()
	sn, err := h.Service.state(ctx)
	if err != nil {
		return err
	}
	if sn.terms == nil {
		return c.JSON(fiber.Map{"keyId": "", "message": "no license key is applied"})
	}
	t := sn.terms
	shared, err := h.Service.sharedSpaces(ctx)
	if err != nil {
		return err
	}
	sn.mu.RLock()
	defer sn.mu.RUnlock()
	quota := any(t.SharedSpaces)
	if t.SharedSpacesUnlimited {
		quota = "unlimited"
	}
	overage := any(t.OverageMinutes)
	if t.OverageUnlimited {
		overage = "unlimited"
	}
	return c.JSON(overview{
		KeyID:        t.KeyID,
		Professional: seats{Consumed: sn.allocated(store.LicenseProfessional), Total: t.Professional},
		Analyzer:     seats{Consumed: sn.allocated(store.LicenseAnalyzer), Total: t.Analyzer},
		AnalyzerCapacity: fiber.Map{
			"consumedMinutes": sn.minutes, "totalMinutes": t.CapacityMinutes, "overage": overage,
			"users": len(sn.order[store.LicenseAnalyzerCapacity]), "exhausted": !sn.capacityLeft(),
		},
		Expires:  t.ExpiresAt,
		Quotas:   fiber.Map{"sharedSpaces": fiber.Map{"consumed": shared, "limit": quota}, "appSizeGB": t.AppSizeGB},
		Excluded: sn.excluded(),
	})
}

// putKey applies a license key sent as {"key": "..."} or as the raw key
// itself: with Content-Type text/plain, or any body that is not declared
// JSON and is not a JSON object (curl --data-binary @license.key sends
// the key as a form, which is no JSON either). A key never starts with "{".
func (h *Handlers) putKey(c fiber.Ctx) error {
	var body struct {
		Key string `json:"key"`
	}
	ct, _, _ := strings.Cut(c.Get(fiber.HeaderContentType), ";")
	ct = strings.ToLower(strings.TrimSpace(ct))
	raw := strings.TrimSpace(string(c.Body()))
	if ct == fiber.MIMETextPlain || (ct != fiber.MIMEApplicationJSON && !strings.HasPrefix(raw, "{")) {
		body.Key = raw
	} else if err := apierror.DecodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if body.Key == "" {
		return apierror.Field("missing_key", "key", "the signed license key is required")
	}
	if err := h.Guard.RequireKnown(c, guard.Console, "update", licenseResource); err != nil {
		return err
	}
	t, err := h.Service.ApplyKey(c.Context(), body.Key, identity.CallerOf(c).User.ID)
	if err != nil {
		return err
	}
	return c.JSON(t)
}

type assignedUser struct {
	Member
	Name    string `json:"name"`
	Subject string `json:"subject"`
}

func (h *Handlers) list(c fiber.Ctx) error {
	if err := h.Guard.RequireKnown(c, guard.Console, "read", licenseResource); err != nil {
		return err
	}
	ctx := c.Context()
	sn, err := h.Service.state(ctx)
	if err != nil {
		return err
	}
	items := []assignedUser{}
	if sn.terms != nil {
		as, err := h.Store.Assignments.ForKey(ctx, sn.terms.KeyID)
		if err != nil {
			return err
		}
		for _, a := range as {
			sn.mu.RLock()
			m, ok := sn.member(a.UserID)
			sn.mu.RUnlock()
			if !ok {
				continue // assigned after the snapshot
			}
			au := assignedUser{Member: m}
			if u, err := h.Store.Users.Get(ctx, a.UserID); err == nil {
				au.Name, au.Subject = u.Name, u.Subject
			}
			items = append(items, au)
		}
	}
	return listing.JSON(c, items, "")
}

func (h *Handlers) assign(c fiber.Ctx) error {
	var body struct {
		UserID string `json:"userId"`
		Type   string `json:"type"`
	}
	if err := apierror.DecodeJSON(c.Body(), &body); err != nil {
		return err
	}
	if body.UserID == "" {
		return apierror.Field("missing_user", "userId", "userId is required")
	}
	if err := h.Guard.RequireKnown(c, guard.Console, "create", licenseResource); err != nil {
		return err
	}
	m, err := h.Service.Assign(c.Context(), body.UserID, body.Type, identity.CallerOf(c).User.ID)
	var ae *apierror.Error
	if errors.As(err, &ae) && ae.Code == "already_assigned" && idempotency.Retried(c) {
		// An earlier attempt under this Idempotency-Key made the
		// assignment and lost its answer: answer it now.
		sn, serr := h.Service.state(c.Context())
		if serr != nil {
			return serr
		}
		if cur, ok := sn.members[body.UserID]; ok {
			return c.Status(http.StatusCreated).JSON(cur)
		}
	}
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(m)
}

func (h *Handlers) remove(c fiber.Ctx) error {
	if err := h.Guard.RequireKnown(c, guard.Console, "delete", licenseResource); err != nil {
		return err
	}
	err := h.Service.Remove(c.Context(), c.Params("userId"), identity.CallerOf(c).User.ID)
	if errors.Is(err, store.ErrNotFound) {
		return apierror.NotFound("assignment", c.Params("userId"))
	}
	if err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
