package ingest

import "math/bits"

// lineSet is a set of line numbers, one bit each.
type lineSet struct{ words []uint64 }

func (s *lineSet) add(line int) {
	w := line / 64
	if w >= len(s.words) {
		s.words = append(s.words, make([]uint64, w+1-len(s.words))...)
	}
	s.words[w] |= 1 << (line % 64)
}

func (s *lineSet) has(line int) bool {
	w := line / 64
	return line >= 0 && w < len(s.words) && s.words[w]&(1<<(line%64)) != 0
}

// each calls fn with every line of the set, in order.
func (s *lineSet) each(fn func(line int)) {
	for w, word := range s.words {
		for ; word != 0; word &= word - 1 {
			fn(w*64 + bits.TrailingZeros64(word))
		}
	}
}
