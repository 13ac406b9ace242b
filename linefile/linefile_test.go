package linefile

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestEach(t *testing.T) {
	in := "# keys\n\n  a 1  \n\t# indented comment\nb 2\n"
	var got []string
	var lines []int
	if err := Each(strings.NewReader(in), "keys", func(line int, text string) error {
		lines, got = append(lines, line), append(got, text)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []string{"a 1", "b 2"}) || !reflect.DeepEqual(lines, []int{3, 5}) {
		t.Errorf("entries %q on lines %v", got, lines)
	}
	stop := errors.New("stop")
	calls := 0
	if err := Each(strings.NewReader("a\nb\n"), "keys", func(int, string) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("err %v after %d calls, want stop after 1", err, calls)
	}
	// A line longer than the scanner's buffer is a read error, not a
	// silently truncated entry.
	if err := Each(strings.NewReader(strings.Repeat("x", 1<<17)), "keys", func(int, string) error { return nil }); err == nil || !strings.Contains(err.Error(), "reading keys") {
		t.Error("an over-long line was accepted")
	}
}
