package licenses

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// EventSource is the source of license events (issue: com.rulekeeper/licenses).
const EventSource = "com.rulekeeper/licenses"

// Service keeps the license state: the key in force and who is assigned,
// included or excluded. Decisions read a snapshot (store.Snapshot) that
// follows the licenses and capacity revisions: at most every second it reads
// the two counters (point lookups) and rebuilds only when a write moved one,
// so other replicas' writes show up within about a second and a quiet tenant
// costs no rebuilds. A write through this process rebuilds at once
// (Invalidate), and so does the passing of time that changes the state
// without a write: the key's expiry and the start of a month (capacity
// minutes are counted per month).
type Service struct {
	store *store.Store
	pub   ed25519.PublicKey
	now   func() time.Time
	// Changed is called after every change of key or assignments (the
	// engine drops cached subjects, whose license it holds).
	Changed func()

	snap *store.Snapshot[*snapshot]
	// mu queues this process's assignment changes in front of the
	// database lock that serialises them across replicas (lock).
	mu sync.Mutex
	// minutes remembers the last capacity minute recorded per user.
	minutes sync.Map
}

// New builds the service with the public key that verifies license keys.
func New(s *store.Store, pub ed25519.PublicKey) *Service {
	svc := &Service{store: s, pub: pub, now: time.Now}
	svc.snap = store.NewSnapshot(s, svc.build, store.AreaLicenses, store.AreaCapacity)
	svc.snap.Now = func() time.Time { return svc.now() }
	return svc
}

// Rebuilds is how many times the license state was built from the store.
func (s *Service) Rebuilds() int64 { return s.snap.Builds() }

// SetPoll sets how often the revisions are read (store.DefaultPoll); call
// it before the first decision.
func (s *Service) SetPoll(d time.Duration) { s.snap.Poll = d }

// Member is one assigned user as the overview shows it.
type Member struct {
	UserID     string    `json:"userId"`
	Type       string    `json:"type"`
	AssignedAt time.Time `json:"assignedAt"`
	Status     string    `json:"status"` // "allocated" or "excluded"
}

// snapshot is the state at one moment.
type snapshot struct {
	until   time.Time // the state changes by itself then (zero: never)
	terms   *Terms    // nil: no key applied
	members map[string]Member
	counts  map[string]int // allocated per type
	minutes int64          // capacity minutes used this month
}

// state returns the current snapshot. A stale one is served while one
// background refresh runs (decisions never wait for it); only when there is
// none (at start, right after a write here, or when time changed the
// state) do callers wait, and then for a single shared rebuild.
func (s *Service) state(ctx context.Context) (*snapshot, error) {
	sn, err := s.snap.Get(ctx)
	if err != nil {
		return nil, err
	}
	if !sn.until.IsZero() && !s.now().Before(sn.until) {
		s.snap.Invalidate()
		return s.snap.Get(ctx)
	}
	return sn, nil
}

// Invalidate makes the next read rebuild the snapshot and tells Changed.
func (s *Service) Invalidate() {
	s.snap.Invalidate()
	if s.Changed != nil {
		s.Changed()
	}
}

func (s *Service) build(ctx context.Context) (*snapshot, error) {
	now := s.now()
	sn := &snapshot{members: map[string]Member{}, counts: map[string]int{}}
	k, err := s.store.LicenseKeys.Current(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return sn, nil
	}
	if err != nil {
		return nil, err
	}
	// The stored key was verified when applied; its expiry still counts.
	t, err := Verify(s.pub, k.Raw, now)
	if err != nil && !errors.Is(err, ErrExpired) {
		return nil, fmt.Errorf("license key in force: %w", err)
	}
	if err != nil {
		return sn, nil // expired: nobody is licensed
	}
	sn.terms = t
	// The key expires, or the month of the capacity minutes ends.
	y, m, _ := now.UTC().Date()
	sn.until = time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
	if t.ExpiresAt.Before(sn.until) {
		sn.until = t.ExpiresAt
	}
	as, err := s.store.Assignments.ForKey(ctx, t.KeyID)
	if err != nil {
		return nil, err
	}
	// Seed §1.1: those most recently assigned are excluded; the earliest
	// assignments within the totals keep their access.
	for _, a := range as {
		st := "allocated"
		if limit, limited := t.limit(a.Type); limited && sn.counts[a.Type] >= limit {
			st = "excluded"
		} else {
			sn.counts[a.Type]++
		}
		sn.members[a.UserID] = Member{UserID: a.UserID, Type: a.Type, AssignedAt: a.AssignedAt, Status: st}
	}
	if sn.minutes, err = s.store.LicenseKeys.MinutesUsed(ctx, t.KeyID, now); err != nil {
		return nil, err
	}
	return sn, nil
}

// limit is the seat total of an access type; capacity has no seat limit.
func (t *Terms) limit(typ string) (int, bool) {
	switch typ {
	case store.LicenseProfessional:
		return t.Professional, true
	case store.LicenseAnalyzer:
		return t.Analyzer, true
	}
	return 0, false
}

// capacityLeft reports whether analyzer capacity minutes remain this month
// (the monthly total plus any overage).
func (sn *snapshot) capacityLeft() bool {
	t := sn.terms
	if t == nil || t.CapacityMinutes == 0 && !t.OverageUnlimited && t.OverageMinutes == 0 {
		return false
	}
	return t.OverageUnlimited || sn.minutes < int64(t.CapacityMinutes+t.OverageMinutes)
}

// LicenseOf is the license of a user as the policy sees it.
func (s *Service) LicenseOf(ctx context.Context, userID string) (authz.License, error) {
	sn, err := s.state(ctx)
	if err != nil {
		return authz.License{}, err
	}
	m, ok := sn.members[userID]
	if !ok {
		return authz.License{}, nil
	}
	l := authz.License{Type: m.Type, Excluded: m.Status == "excluded"}
	if m.Type == store.LicenseAnalyzerCapacity && !sn.capacityLeft() {
		l.CapacityExhausted = true
	}
	return l, nil
}

// KeyID is the id of the key in force ("" when none).
func (s *Service) KeyID(ctx context.Context) (string, error) {
	sn, err := s.state(ctx)
	if err != nil || sn.terms == nil {
		return "", err
	}
	return sn.terms.KeyID, nil
}
