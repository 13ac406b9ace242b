package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/custream/custream/linefile"
	"github.com/custream/custream/processor"
	"github.com/custream/custream/schemas/cmdsig"
)

// producerFlags say which orgs each source's producers may act for, and
// with which keys they sign (processor.Admission; docs/operations.md,
// "Producers").
type producerFlags struct {
	orgsFile     string
	keysFile     string
	pointsOrgs   string
	pointsSigned bool
}

func (p *producerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.orgsFile, "source-orgs-file", "", "file of org allow-lists, one line per source: SOURCE ORG[,ORG…] (as --sources NAME:orgs=…; a source may have its list in one place only)")
	fs.StringVar(&p.pointsOrgs, "points-orgs", "", "the only orgs the points topic may carry balances for, ORG[+ORG…] (as --sources NAME:orgs=…); default every org")
	fs.BoolVar(&p.pointsSigned, "points-signed", false, "every balance on the points topic must be signed, as a signed source's commands (--command-keys-file)")
	fs.StringVar(&p.keysFile, "command-keys-file", "", "file of the orgs' command signing keys, one a line: ORG KEYID BASE64KEY (at least 32 bytes; two per org at once while rotating); signed commands are verified with them (docs/wire.md, \"Signed commands\")")
}

// admission builds the processor's admission from --sources' options and
// the two files.
func (p *producerFlags) admission(sources string, log *slog.Logger) (processor.Admission, error) {
	specs, err := parseSourceSpecs(sources)
	if err != nil {
		return processor.Admission{}, err
	}
	a := processor.Admission{Orgs: map[string][]int64{}, Signed: map[string]bool{}}
	for _, sp := range specs {
		if sp.orgs != nil {
			a.Orgs[sp.source.Name] = sp.orgs
		}
		if sp.signed {
			a.Signed[sp.source.Name] = true
		}
	}
	if p.pointsOrgs != "" {
		list, err := parseOrgList(p.pointsOrgs, "+")
		if err != nil {
			return processor.Admission{}, fmt.Errorf("--points-orgs: %w", err)
		}
		a.Orgs[processor.PointsSource] = list
	}
	if p.pointsSigned {
		a.Signed[processor.PointsSource] = true
	}
	if p.orgsFile != "" {
		if err := readOrgsFile(p.orgsFile, a.Orgs); err != nil {
			return processor.Admission{}, err
		}
	}
	if p.keysFile != "" {
		if a.Keys, err = cmdsig.LoadKeys(p.keysFile); err != nil {
			return processor.Admission{}, err
		}
	}
	for _, sp := range specs {
		name := sp.source.Name
		orgs := "all"
		if list, ok := a.Orgs[name]; ok {
			orgs = fmt.Sprint(len(list))
		}
		log.Info("source admission", "source", name, "orgs_allowed", orgs, "signed", a.Signed[name])
	}
	orgs := "all"
	if list, ok := a.Orgs[processor.PointsSource]; ok {
		orgs = fmt.Sprint(len(list))
	}
	log.Info("points admission", "orgs_allowed", orgs, "signed", a.Signed[processor.PointsSource])
	return a, nil
}

// readOrgsFile adds the allow-lists of path to orgs: lines SOURCE
// ORG[,ORG…]; blank lines and # comments are skipped; a source may have
// several lines.
func readOrgsFile(path string, orgs map[string][]int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading --source-orgs-file: %w", err)
	}
	defer f.Close()
	fromFlag := map[string]bool{}
	for name := range orgs {
		fromFlag[name] = true
	}
	return linefile.Each(f, "--source-orgs-file", func(line int, text string) error {
		fields := strings.Fields(text)
		if len(fields) != 2 {
			return fmt.Errorf("--source-orgs-file %s line %d: want SOURCE ORG[,ORG…]", path, line)
		}
		name := strings.ToUpper(fields[0])
		if fromFlag[name] {
			return fmt.Errorf("--source-orgs-file %s line %d: source %s has its orgs in --sources already; keep one list", path, line, name)
		}
		list, err := parseOrgList(fields[1], ",")
		if err != nil {
			return fmt.Errorf("--source-orgs-file %s line %d: %w", path, line, err)
		}
		orgs[name] = append(orgs[name], list...)
		return nil
	})
}
