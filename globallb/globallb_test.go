package globallb

import (
	"fmt"
	"testing"
	"time"
)

func TestPriorityOf(t *testing.T) {
	loc := Locality{Provider: "aws", Region: "eu-west-1", Zone: "eu-west-1a"}
	cases := []struct {
		t    Target
		want Priority
	}{
		{Target{Cluster: "me", Locality: Locality{Provider: "gcp"}}, SameCluster},
		{Target{Cluster: "a", Locality: loc}, SameZone},
		{Target{Cluster: "b", Locality: Locality{Provider: "aws", Region: "eu-west-1", Zone: "eu-west-1b"}}, SameRegion},
		{Target{Cluster: "c", Locality: Locality{Provider: "aws", Region: "us-east-1", Zone: "eu-west-1a"}}, SameProvider},
		{Target{Cluster: "d", Locality: Locality{Provider: "gcp", Region: "eu-west-1", Zone: "eu-west-1a"}}, Anywhere},
		{Target{Cluster: "e"}, Anywhere},
	}
	for _, c := range cases {
		if got := PriorityOf("me", loc, c.t); got != c.want {
			t.Errorf("PriorityOf(%s) = %v, want %v", c.t.Cluster, got, c.want)
		}
	}
	if got := PriorityOf("x", Locality{}, Target{Cluster: "y"}); got != Anywhere {
		t.Errorf("empty localities matched: %v", got)
	}
}

// BenchmarkPick is the Pick benchmark: the weighted picker over
// 2, 20 and 200 target clusters spread over priorities, some unhealthy.
func BenchmarkPick(b *testing.B) {
	for _, n := range []int{2, 20, 200} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			locs := []Locality{{Provider: "aws", Region: "r1", Zone: "z2"}, {Provider: "aws", Region: "r2"}, {Provider: "gcp", Region: "r9"}}
			var targets []Target
			for i := range n {
				targets = append(targets, Target{Cluster: fmt.Sprintf("c%03d", i), Locality: locs[i%3], Ready: uint32(1 + i%7), Alive: i%5 != 0})
			}
			bal := NewBalancer(Config{}, nil)
			bal.Update(Input{From: "me", Local: Locality{Provider: "aws", Region: "r1", Zone: "z1"}, Targets: targets, Now: time.Now()})
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, ok := bal.Pick(nil); !ok {
					b.Fatal("no pick")
				}
			}
		})
	}
}
