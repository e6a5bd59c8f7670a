package licenses

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// EventSource is the source of license events (issue: com.rulekeeper/licenses).
const EventSource = "com.rulekeeper/licenses"

// Service keeps the license state: the key in force and who is assigned,
// included or excluded. Decisions read a snapshot that is rebuilt at most
// every MaxAge (one second: other replicas' writes show up that fast) and
// at once after a write through this process.
type Service struct {
	store  *store.Store
	pub    ed25519.PublicKey
	now    func() time.Time
	MaxAge time.Duration
	// Changed is called after every change of key or assignments (the
	// engine drops cached subjects, whose license it holds).
	Changed func()

	snap     atomic.Pointer[snapshot]
	rebuilds singleflight.Group
	gen      atomic.Int64 // bumped by Invalidate
	// mu serialises assignment changes in this process so a seat is
	// never given twice; exclusion is the safety net across replicas.
	mu sync.Mutex
	// minutes remembers the last capacity minute recorded per user.
	minutes sync.Map
}

// New builds the service with the public key that verifies license keys.
func New(s *store.Store, pub ed25519.PublicKey) *Service {
	return &Service{store: s, pub: pub, now: time.Now, MaxAge: time.Second}
}

// Member is one assigned user as the overview shows it.
type Member struct {
	UserID     string    `json:"userId"`
	Type       string    `json:"type"`
	AssignedAt time.Time `json:"assignedAt"`
	Status     string    `json:"status"` // "allocated" or "excluded"
}

// snapshot is the state at one moment.
type snapshot struct {
	at      time.Time
	terms   *Terms // nil: no key applied
	members map[string]Member
	counts  map[string]int // allocated per type
	minutes int64          // capacity minutes used this month
}

// state returns the current snapshot. A stale one is served while one
// background rebuild runs (decisions never wait for it); only when there is
// none (at start, or right after a write here) do callers wait, and then
// for a single shared rebuild.
func (s *Service) state(ctx context.Context) (*snapshot, error) {
	sn := s.snap.Load()
	if sn != nil {
		if s.now().Sub(sn.at) >= s.MaxAge {
			s.rebuilds.DoChan("snapshot", func() (any, error) {
				return s.rebuild(context.WithoutCancel(ctx))
			})
		}
		return sn, nil
	}
	v, err, _ := s.rebuilds.Do("snapshot", func() (any, error) { return s.rebuild(context.WithoutCancel(ctx)) })
	if err != nil {
		return nil, err
	}
	return v.(*snapshot), nil
}

// rebuild builds a snapshot and keeps it unless a write invalidated the
// state while it was being read (then the next read builds again).
func (s *Service) rebuild(ctx context.Context) (*snapshot, error) {
	gen := s.gen.Load()
	sn, err := s.build(ctx)
	if err != nil {
		return nil, err
	}
	if s.gen.Load() == gen {
		s.snap.Store(sn)
	}
	return sn, nil
}

// Invalidate makes the next read rebuild the snapshot and tells Changed.
func (s *Service) Invalidate() {
	s.gen.Add(1)
	s.snap.Store(nil)
	if s.Changed != nil {
		s.Changed()
	}
}

func (s *Service) build(ctx context.Context) (*snapshot, error) {
	sn := &snapshot{at: s.now(), members: map[string]Member{}, counts: map[string]int{}}
	k, err := s.store.LicenseKeys.Current(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return sn, nil
	}
	if err != nil {
		return nil, err
	}
	// The stored key was verified when applied; its expiry still counts.
	t, err := Verify(s.pub, k.Raw, s.now())
	if err != nil && !errors.Is(err, ErrExpired) {
		return nil, fmt.Errorf("license key in force: %w", err)
	}
	if err != nil {
		return sn, nil // expired: nobody is licensed
	}
	sn.terms = t
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
	if sn.minutes, err = s.store.LicenseKeys.MinutesUsed(ctx, t.KeyID, s.now()); err != nil {
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
