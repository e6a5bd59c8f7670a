package server

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

type testKey struct{}

// Requests whose deadlines fall within a grain share one timer; each
// answers its own deadline and its parent's values, and ends at its
// deadline or within a grain after it.
func TestSharedDeadlines(t *testing.T) {
	var s sharedDeadlines
	parent := context.WithValue(context.Background(), testKey{}, "v")
	base := time.Now().Add(40 * time.Millisecond).Truncate(deadlineGrain)
	first, cancel1 := s.within(parent, base.Add(time.Millisecond), nil)
	second, cancel2 := s.within(parent, base.Add(3*time.Millisecond), nil)
	if cancel1 != nil || cancel2 != nil {
		t.Fatal("a shared timer's context came with a cancel of its own")
	}
	if first.Done() != second.Done() {
		t.Error("two deadlines within a grain have a timer each")
	}
	if d, ok := second.Deadline(); !ok || !d.Equal(base.Add(3*time.Millisecond)) {
		t.Errorf("Deadline %v, %v; want the request's own %v", d, ok, base.Add(3*time.Millisecond))
	}
	if v := second.Value(testKey{}); v != "v" {
		t.Errorf("parent's value %v, want v", v)
	}
	later, _ := s.within(parent, base.Add(deadlineGrain+time.Millisecond), nil)
	if later.Done() == first.Done() {
		t.Error("a deadline a grain later shares the earlier timer")
	}
	if first.Err() != nil {
		t.Fatalf("ended before its deadline: %v", first.Err())
	}
	select {
	case <-first.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("not ended 5 s after its deadline")
	}
	if now, d := time.Now(), base.Add(time.Millisecond); now.Before(d) {
		t.Errorf("ended %v before its deadline", d.Sub(now))
	}
	if !errors.Is(first.Err(), context.DeadlineExceeded) || !errors.Is(context.Cause(first), context.DeadlineExceeded) {
		t.Errorf("Err %v, Cause %v; want deadline exceeded", first.Err(), context.Cause(first))
	}
}

// Contexts derived from a request's (through values too) end with it, and
// register with the shared timer instead of a goroutine each.
func TestSharedDeadlineChildren(t *testing.T) {
	var s sharedDeadlines
	req, _ := s.within(context.Background(), time.Now().Add(50*time.Millisecond), nil)
	before := runtime.NumGoroutine()
	var children []context.Context
	for range 200 {
		child, cancel := context.WithCancel(context.WithValue(req, testKey{}, 1))
		defer cancel()
		children = append(children, child)
	}
	if n := runtime.NumGoroutine() - before; n > 50 {
		t.Errorf("%d goroutines more for 200 derived contexts", n)
	}
	for _, child := range children {
		select {
		case <-child.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("a derived context outlived the request's deadline")
		}
		if !errors.Is(child.Err(), context.Canceled) && !errors.Is(child.Err(), context.DeadlineExceeded) {
			t.Fatalf("derived context's Err %v", child.Err())
		}
	}
}

// A parent that can end on its own gets a timer of its own, which follows
// it, and a cancel to release it.
func TestSharedDeadlinesCancellableParent(t *testing.T) {
	var s sharedDeadlines
	parent, cancelParent := context.WithCancel(context.Background())
	req, cancel := s.within(parent, time.Now().Add(time.Hour), nil)
	if cancel == nil {
		t.Fatal("no cancel for a context with a timer of its own")
	}
	defer cancel()
	cancelParent()
	select {
	case <-req.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the request's context did not end with its parent")
	}
}
