package licenses

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// rank orders access types for upgrades: a higher rank is an upgrade.
func rank(typ string) int {
	switch typ {
	case store.LicenseAnalyzerCapacity:
		return 1
	case store.LicenseAnalyzer:
		return 2
	case store.LicenseProfessional:
		return 3
	}
	return 0
}

func validType(typ string) bool { return rank(typ) > 0 }

// ApplyKey verifies a signed key and puts it in force. Assignments belong
// to a key (§3.4): the new key starts with its own, and going back to an old
// key brings its assignments back.
func (s *Service) ApplyKey(ctx context.Context, raw, by string) (*Terms, error) {
	if len(s.pub) == 0 {
		return nil, apierror.New(http.StatusConflict, "license_public_key_missing",
			"this server has no license public key, so no license key can be verified: start it with --license-public-key (RULEKEEPER_LICENSE_PUBLIC_KEY), made with `rulekeeper license keygen`",
			map[string]any{"flag": "--license-public-key"})
	}
	t, err := Verify(s.pub, raw, s.now())
	if err != nil {
		code := "license_key_malformed"
		switch {
		case errors.Is(err, ErrBadSignature):
			code = "license_key_bad_signature"
		case errors.Is(err, ErrExpired):
			code = "license_key_expired"
		}
		return nil, apierror.New(http.StatusBadRequest, code, "the license key was refused: "+err.Error(), map[string]any{"field": "key"})
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := s.store.LicenseKeys.Apply(ctx, &store.LicenseKey{ID: t.KeyID, Raw: raw}); err != nil {
		return nil, err
	}
	s.Invalidate()
	if err := s.store.Events.Add(ctx, EventSource, "license.changed", by, map[string]any{"keyId": t.KeyID}); err != nil {
		return nil, err
	}
	return t, nil
}

// Assign gives userID access of typ under the key in force, or upgrades an
// analyzer to professional (§3.3). A downgrade is refused (409
// no_downgrade), and so is an assignment when no seat is free (409
// no_seats_available). Decided under a lock, with the state caught up with
// the change log (every assignment written before the lock was taken is in
// it), so concurrent requests on any replica never share a seat.
func (s *Service) Assign(ctx context.Context, userID, typ, by string) (*Member, error) {
	if !validType(typ) {
		return nil, apierror.Field("bad_type", "type", "type is professional, analyzer or analyzer_capacity")
	}
	if _, err := s.store.Users.Get(ctx, userID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierror.Field("unknown_user", "userId", fmt.Sprintf("user %q does not exist", userID))
		}
		return nil, err
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := s.store.Follower.CatchUp(ctx); err != nil {
		return nil, err
	}
	sn, err := s.state(ctx)
	if err != nil {
		return nil, err
	}
	if sn.terms == nil {
		return nil, apierror.New(http.StatusConflict, "no_license_key", "apply a license key first", nil)
	}
	keyID := sn.terms.KeyID
	sn.mu.RLock()
	cur, assigned := sn.member(userID)
	free := s.free(sn, typ)
	sn.mu.RUnlock()
	switch {
	case assigned && cur.Type == typ:
		return nil, apierror.New(http.StatusConflict, "already_assigned", fmt.Sprintf("the user has %s access already", typ), nil)
	case assigned && rank(typ) < rank(cur.Type):
		return nil, apierror.New(http.StatusConflict, "no_downgrade",
			fmt.Sprintf("%s access cannot be downgraded to %s", cur.Type, typ), map[string]any{"field": "type"})
	case !free:
		return nil, apierror.New(http.StatusConflict, "no_seats_available",
			fmt.Sprintf("no %s access is available under the license", typ), map[string]any{"type": typ})
	}
	event := "assignment.added"
	var a *store.Assignment
	if assigned {
		if a, err = s.store.Assignments.SetType(ctx, keyID, userID, typ); err != nil {
			return nil, err
		}
		event = "assignment.upgraded"
	} else if a, err = s.store.Assignments.Add(ctx, keyID, userID, typ); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, apierror.New(http.StatusConflict, "already_assigned", "the user has an assignment already", nil)
		}
		return nil, err
	}
	s.Invalidate()
	if err := s.store.Events.Add(ctx, EventSource, event, by, map[string]any{"userId": userID, "type": typ, "keyId": keyID}); err != nil {
		return nil, err
	}
	// A seat of typ was free in the state read under the lock: fewer of
	// typ were allocated than the total, so every assignment of typ, this
	// one included, is allocated (seats go in assignment order). The next
	// read applies the change.
	return &Member{UserID: userID, Type: typ, AssignedAt: a.AssignedAt, Status: "allocated"}, nil
}

// free reports whether a seat of typ is free: fewer allocated than the
// total; capacity access is metered, so it is free while minutes remain.
// The caller holds sn.mu.
func (s *Service) free(sn *snapshot, typ string) bool {
	if limit, limited := sn.terms.limit(typ); limited {
		return len(sn.order[typ]) < limit
	}
	return sn.capacityLeft()
}

// Remove deletes the assignment of userID under the key in force; excluded
// users move up into the freed seat on the next read (§1.1).
func (s *Service) Remove(ctx context.Context, userID, by string) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	keyID, err := s.KeyID(ctx)
	if err != nil {
		return err
	}
	if keyID == "" {
		return apierror.New(http.StatusConflict, "no_license_key", "no license key is in force", nil)
	}
	if err := s.store.Assignments.Remove(ctx, keyID, userID); err != nil {
		return err
	}
	s.Invalidate()
	return s.store.Events.Add(ctx, EventSource, "assignment.revoked", by, map[string]any{"userId": userID, "keyId": keyID})
}

// OnLogin is dynamic license assignment (§3.4), a login hook: a user
// without an assignment under the key in force gets, in order,
//   - both switches on: professional, else analyzer, else analyzer capacity;
//   - professional only: professional, else analyzer capacity;
//   - analyzer only: analyzer, else analyzer capacity;
//   - both off: analyzer capacity;
//
// each "if available". Nothing available: the user stays unassigned.
func (s *Service) OnLogin(ctx context.Context, u *store.User, _ bool) error {
	lic, err := s.LicenseOf(ctx, u.ID)
	if err != nil || lic.Type != "" {
		return err
	}
	settings, err := s.store.Settings.Get(ctx)
	if err != nil {
		return err
	}
	var order []string
	if settings.DynamicProfessional {
		order = append(order, store.LicenseProfessional)
	}
	if settings.DynamicAnalyzer {
		order = append(order, store.LicenseAnalyzer)
	}
	order = append(order, store.LicenseAnalyzerCapacity)
	for _, typ := range order {
		_, err := s.Assign(ctx, u.ID, typ, u.ID)
		var e *apierror.Error
		switch {
		case err == nil:
			return nil
		case errors.As(err, &e) && e.Status == http.StatusConflict:
			if e.Code == "no_license_key" {
				return nil
			}
			continue // not available: try the next
		default:
			return err
		}
	}
	return nil
}

// OnRequest counts a minute of activity of an analyzer capacity user, once
// per minute per user (§1.1 analyzer capacity).
func (s *Service) OnRequest(ctx context.Context, u *store.User) error {
	// One reading of the clock for the minute and the license's expiry:
	// this runs for every authenticated request.
	now := s.now()
	minute := now.UTC().Truncate(time.Minute)
	if last, ok := s.minutes.Load(u.ID); ok && last.(time.Time).Equal(minute) {
		return nil
	}
	lic, err := s.licenseAt(ctx, u.ID, now)
	if err != nil || lic.Type != store.LicenseAnalyzerCapacity || lic.Excluded || lic.CapacityExhausted {
		return err
	}
	keyID, err := s.KeyID(ctx)
	if err != nil {
		return err
	}
	if err := s.store.LicenseKeys.RecordMinute(ctx, keyID, u.ID, minute); err != nil {
		return err
	}
	s.minutes.Store(u.ID, minute)
	return nil
}

// SharedSpaceAllowed reports whether the shared-spaces quota has room for
// one more shared space (§1.1 quotas); the space handlers ask it.
func (s *Service) SharedSpaceAllowed(ctx context.Context) error {
	sn, err := s.state(ctx)
	if err != nil {
		return err
	}
	if sn.terms == nil || sn.terms.SharedSpacesUnlimited {
		return nil
	}
	n, err := s.sharedSpaces(ctx)
	if err != nil {
		return err
	}
	if n >= sn.terms.SharedSpaces {
		return apierror.New(http.StatusConflict, "shared_space_quota_reached",
			fmt.Sprintf("the license allows %d shared spaces", sn.terms.SharedSpaces), map[string]any{"quota": sn.terms.SharedSpaces})
	}
	return nil
}

// lock serialises assignment changes across replicas: a database lock
// (store.Locks) around the state read and the write, so two replicas never
// give the last seat twice; the in-process mutex queues this process's
// callers in front of it.
func (s *Service) lock(ctx context.Context) (func(), error) {
	s.mu.Lock()
	release, err := s.store.Locks.Acquire(ctx, "tenant/license-seats")
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	return func() { release(); s.mu.Unlock() }, nil
}

func (s *Service) sharedSpaces(ctx context.Context) (int, error) {
	if s.SharedSpaces != nil {
		return s.SharedSpaces(ctx)
	}
	n, err := s.store.Spaces.Count(ctx, store.SpaceFilter{Type: store.SpaceShared})
	return int(n), err
}
