package config

import (
	"fmt"
	"sync"
	"testing"
)

// TestWeightsConcurrentWriters sets a weight for each of many connections
// at once, through separate Stores as separate farm processes would: no
// update may be lost.
func TestWeightsConcurrentWriters(t *testing.T) {
	isolate(t, "")
	const n = 40
	for i := range n {
		must(t, Store{}.AddConnection(Connection{Name: fmt.Sprintf("n%02d", i), URI: "unix:///x"}, false))
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var s Store
			if err := s.SetWeight(fmt.Sprintf("n%02d", i), float64(i+1)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	w, err := Store{}.Weights()
	must(t, err)
	for i := range n {
		if name := fmt.Sprintf("n%02d", i); w[name] != float64(i+1) {
			t.Errorf("weight of %s lost: %v (%d of %d weights kept)", name, w[name], len(w), n)
		}
	}
}
