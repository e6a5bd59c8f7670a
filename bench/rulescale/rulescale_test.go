package main

import (
	"context"
	"fmt"
	"testing"
)

// TestIndexedAgreesWithPlain: the generated mix compiles without errors,
// and the indexed and the plain compilation give the same decisions
// (allow and granting rules) on 1,000 inputs (200 under -short).
func TestIndexedAgreesWithPlain(t *testing.T) {
	n, k := 2000, 1000
	if testing.Short() {
		n, k = 300, 200
	}
	ctx := context.Background()
	rs := Rules(n, 1)
	plain, err := Engine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	indexed, err := Engine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPlain(ctx, plain, 1, rs); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadIndexed(ctx, indexed, 1, rs); err != nil {
		t.Fatal(err)
	}
	ins := Inputs(k, n, 2)
	i, diff, err := Agree(ctx, plain, indexed, ins)
	if err != nil {
		t.Fatal(err)
	}
	if i >= 0 {
		t.Fatalf("input %d: %+v\n%s", i, ins[i], diff)
	}
	granted := 0
	for _, in := range ins {
		d, _ := indexed.Evaluate(ctx, in)
		for _, g := range d.Grants {
			if g.Kind == "rule" {
				granted++
				break
			}
		}
	}
	if granted < k/10 {
		t.Errorf("only %d of %d decisions granted by a rule: the inputs miss the rules", granted, k)
	}
}

// BenchmarkDecide is one uncached decision with 10, 1,000 and 10,000
// rules of the mix in force, compiled plainly and indexed.
func BenchmarkDecide(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{10, 1000, 10000} {
		rs := Rules(n, 1)
		ins := Inputs(1000, n, 2)
		for _, kind := range []string{"indexed", "plain"} {
			b.Run(fmt.Sprintf("%s/%d", kind, n), func(b *testing.B) {
				e, err := Engine(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if kind == "plain" {
					_, err = LoadPlain(ctx, e, 1, rs)
				} else {
					_, _, err = LoadIndexed(ctx, e, 1, rs)
				}
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					if _, err := e.Evaluate(ctx, ins[i%len(ins)]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
