// Package linefile reads the small line-based files custream's operators
// write by hand (API keys, command signing keys, cluster secrets, source
// allow-lists): one entry a line, blank lines and lines starting with #
// skipped. One reader, so every such file has the same rules.
package linefile

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Each calls fn with the line number (from 1) and the trimmed text of every
// entry line of r, stopping at fn's first error, which it returns as is
// (fn names the line: only it knows what the line may quote). A read error
// says "reading <what>".
func Each(r io.Reader, what string, fn func(line int, text string) error) error {
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if err := fn(line, text); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	return nil
}
