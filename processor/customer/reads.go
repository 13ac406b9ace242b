package customer

// Reads names the state a command will read, before the rules run, so
// that a store can fetch it ahead of them: the processor does, on its
// decoding goroutines, while the serial loop applies the commands before
// (state.Task.Prefetch). It names the customer the command is about and
// the identifiers whose holder lists it looks up, normalised as the rules
// normalise them. It is only a hint: the rules read what they read
// whatever it says, so a hint that names too much costs a read, and one
// that names too little costs the read it did not save.
type Reads struct {
	CustomerID  int64
	Identifiers []Identifier
}

// maxReadHints bounds the identifiers a hint names: a body with more is
// refused by the rules (MaxIdentifiers and the like) and not worth
// reading ahead for.
const maxReadHints = 16

// ReadsOf returns the reads cmd will make.
func ReadsOf(cfg Config, cmd Command) Reads {
	r := Reads{CustomerID: cmd.CustomerID}
	add := func(raw []Identifier) {
		for _, id := range raw {
			if len(r.Identifiers) == maxReadHints {
				return
			}
			if n, iss := normaliseIdentifier(cfg, id); iss == nil {
				r.Identifiers = append(r.Identifiers, n)
			}
		}
	}
	body := func(b *CustomerBody) {
		if b == nil {
			return
		}
		for _, p := range b.Profiles {
			add(p.Identifiers)
		}
	}
	switch cmd.Op {
	case OpRegister:
		body(cmd.Register)
	case OpUpdate:
		body(cmd.Update)
	case OpChangeIdentifier:
		if c := cmd.ChangeIdentifier; c != nil {
			add(c.Add)
			add(c.Remove)
		}
	}
	return r
}
