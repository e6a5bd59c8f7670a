package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Settings are the tenant's settings (seed 000 §1.10, §11, §12).
type Settings struct {
	ID string `bson:"_id" json:"-"`
	// OnDemandApps enables on-demand app generation.
	OnDemandApps bool `bson:"onDemandApps" json:"onDemandApps"`
	// AutoCreateGroups creates groups from the identity provider at login.
	AutoCreateGroups bool `bson:"autoCreateGroups" json:"autoCreateGroups"`
	// DynamicProfessional / DynamicAnalyzer: dynamic license assignment at
	// login (§3.4).
	DynamicProfessional bool `bson:"dynamicProfessional" json:"dynamicProfessional"`
	DynamicAnalyzer     bool `bson:"dynamicAnalyzer" json:"dynamicAnalyzer"`
	// APIKeysEnabled is the tenant-wide API key switch (§1.10).
	APIKeysEnabled bool `bson:"apiKeysEnabled" json:"apiKeysEnabled"`
	// APIKeyMaxExpiryDays caps the expiry of a new key.
	APIKeyMaxExpiryDays int `bson:"apiKeyMaxExpiryDays" json:"apiKeyMaxExpiryDays"`
	// APIKeyMaxPerUser caps the active keys of one user.
	APIKeyMaxPerUser int `bson:"apiKeyMaxPerUser" json:"apiKeyMaxPerUser"`
	// EventRetentionDays: events older than this are deleted (0: kept).
	EventRetentionDays int       `bson:"eventRetentionDays" json:"eventRetentionDays"`
	UpdatedAt          time.Time `bson:"updatedAt" json:"updatedAt"`
	Version            int64     `bson:"version" json:"version"`
}

// DefaultSettings are the settings of a new tenant.
func DefaultSettings() Settings {
	return Settings{
		ID:                  "tenant",
		AutoCreateGroups:    true,
		DynamicProfessional: false,
		DynamicAnalyzer:     false,
		APIKeysEnabled:      true,
		APIKeyMaxExpiryDays: 365,
		APIKeyMaxPerUser:    5,
		EventRetentionDays:  90,
		Version:             1,
	}
}

// SettingsRepo keeps the single settings document.
type SettingsRepo struct{ c collection[Settings] }

// Get returns the settings, creating the defaults on first use.
func (r *SettingsRepo) Get(ctx context.Context) (*Settings, error) {
	s, err := r.c.byID(ctx, "tenant")
	if errors.Is(err, ErrNotFound) {
		d := DefaultSettings()
		d.UpdatedAt = time.Now().UTC()
		if ierr := r.c.insert(ctx, &d); ierr != nil && !errors.Is(ierr, ErrConflict) {
			return nil, fmt.Errorf("create default settings: %w", ierr)
		}
		return r.c.byID(ctx, "tenant")
	}
	return s, err
}

// Replace stores s if the stored version is still s.Version.
func (r *SettingsRepo) Replace(ctx context.Context, s Settings) (*Settings, error) {
	set := bson.D{
		{Key: "onDemandApps", Value: s.OnDemandApps},
		{Key: "autoCreateGroups", Value: s.AutoCreateGroups},
		{Key: "dynamicProfessional", Value: s.DynamicProfessional},
		{Key: "dynamicAnalyzer", Value: s.DynamicAnalyzer},
		{Key: "apiKeysEnabled", Value: s.APIKeysEnabled},
		{Key: "apiKeyMaxExpiryDays", Value: s.APIKeyMaxExpiryDays},
		{Key: "apiKeyMaxPerUser", Value: s.APIKeyMaxPerUser},
		{Key: "eventRetentionDays", Value: s.EventRetentionDays},
	}
	out, err := r.c.updateVersion(ctx, "tenant", s.Version, nil, set)
	if err != nil {
		return nil, fmt.Errorf("update settings: %w", err)
	}
	return out, nil
}
