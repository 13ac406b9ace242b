package ingest

import (
	"reflect"
	"testing"
)

func TestLineSet(t *testing.T) {
	var s lineSet
	lines := []int{1, 2, 63, 64, 65, 200, 1000}
	for _, l := range []int{1000, 2, 65, 1, 63, 64, 200, 64} {
		s.add(l)
	}
	var got []int
	s.each(func(l int) { got = append(got, l) })
	if !reflect.DeepEqual(got, lines) {
		t.Errorf("each: %v, want %v", got, lines)
	}
	for _, l := range []int{0, 3, 62, 66, 999, 1001, 100_000, -1} {
		if s.has(l) {
			t.Errorf("has(%d)", l)
		}
	}
	for _, l := range lines {
		if !s.has(l) {
			t.Errorf("!has(%d)", l)
		}
	}
	var empty lineSet
	empty.each(func(int) { t.Error("an empty set has a line") })
}
