package ingest

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/processor/sample"
	"github.com/custream/custream/schemas"
)

// GenConfig shapes a generated load file.
type GenConfig struct {
	Count  int
	Seed   uint64
	Org    int64
	Format Format
	// InvalidPct is the share of rows with an invalid mobile (rejected with
	// 8056); DuplicatePct the share of rows that repeat an earlier row's
	// person (mobile and email): rejected with 8007 when loaded into the
	// same source, joined (8050) when loaded into another. 0 means none.
	InvalidPct   int
	DuplicatePct int
}

// genColumns is the CSV header of generated files, in the order written.
var genColumns = []string{"firstName", "lastName", "mobile", "email", "channel.mobile", "channel.mobile.verified",
	"loyaltyType", "field.Favorite Color", "ext.gender"}

// Generate writes cfg.Count register rows built from processor/sample's
// people. The same config always writes the same bytes, so a generated
// file loaded twice has the same request ids.
func Generate(w io.Writer, cfg GenConfig) error {
	if cfg.Org == 0 {
		cfg.Org = 100
	}
	// sample treats 0 as "its default"; a negative share is never drawn,
	// which is what 0 means here.
	pct := func(p int) int {
		if p <= 0 {
			return -1
		}
		return p
	}
	g := sample.New(sample.Config{Seed: cfg.Seed, Orgs: []int64{cfg.Org}, InvalidPct: pct(cfg.InvalidPct), DuplicatePct: pct(cfg.DuplicatePct)})
	bw := bufio.NewWriterSize(w, 256<<10)
	var cw *csv.Writer
	if cfg.Format == CSV {
		cw = csv.NewWriter(bw)
		if err := cw.Write(genColumns); err != nil {
			return fmt.Errorf("gen: %w", err)
		}
	}
	for n := 0; n < cfg.Count; {
		cmd := g.Next()
		// A load file is one source's registrations; sample's other ops
		// guess customer ids, which only make sense against known state.
		if cmd.Op != customer.OpRegister {
			continue
		}
		n++
		var err error
		if cw != nil {
			err = cw.Write(genRow(cmd.Register))
		} else {
			var b []byte
			if b, err = schemas.EncodeJSONBody(cmd); err == nil {
				_, err = bw.Write(append(b, '\n'))
			}
		}
		if err != nil {
			return fmt.Errorf("gen: row %d: %w", n, err)
		}
	}
	if cw != nil {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return fmt.Errorf("gen: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	return nil
}

// genRow lays out a sample registration in genColumns' order.
func genRow(b *customer.CustomerBody) []string {
	p := b.Profiles[0]
	row := make([]string, len(genColumns))
	row[0], row[1] = p.FirstName, p.LastName
	for _, id := range p.Identifiers {
		switch id.Type {
		case customer.IDMobile:
			row[2] = id.Value
		case customer.IDEmail:
			row[3] = id.Value
		}
	}
	for _, cc := range p.CommChannels {
		if cc.Type == "mobile" {
			row[4], row[5] = cc.Value, fmt.Sprint(cc.Verified)
		}
	}
	if b.LoyaltyInfo != nil {
		row[6] = b.LoyaltyInfo.LoyaltyType
	}
	row[7] = p.Fields["Favorite Color"]
	row[8] = b.ExtendedFields["gender"]
	return row
}
