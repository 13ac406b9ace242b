package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// envPrefix makes every flag --some-name settable as CUSTREAM_SOME_NAME; a
// flag given on the command line wins over the environment.
const envPrefix = "CUSTREAM_"

// envName is the environment variable of a flag.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// applyEnv sets every flag of fs that was not given on the command line
// from its environment variable, if that is set. Repeatable flags take a
// comma-separated list from the environment.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		v := getenv(envName(f.Name))
		if v == "" {
			return
		}
		if _, ok := f.Value.(*listFlag); ok {
			for _, item := range strings.Split(v, ",") {
				if item = strings.TrimSpace(item); item != "" {
					if e := f.Value.Set(item); e != nil {
						err = fmt.Errorf("%s: %w", envName(f.Name), e)
						return
					}
				}
			}
			return
		}
		if e := f.Value.Set(v); e != nil {
			err = fmt.Errorf("%s=%q: %w", envName(f.Name), v, e)
		}
	})
	return err
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// parseFlags parses args, then the environment, and prints the usage with
// env names on -h.
func parseFlags(fs *flag.FlagSet, args []string) error {
	return parseFlagsIntro(fs, args, "")
}

// parseFlagsIntro is parseFlags whose -h prints intro (what the command
// does) between the usage line and the flags.
func parseFlagsIntro(fs *flag.FlagSet, args []string, intro string) error {
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: custream %s [flags]\n\n", fs.Name())
		if intro != "" {
			fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(intro))
		}
		fmt.Fprintf(w, "Flags (each also settable as %s<NAME>):\n", envPrefix)
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" && f.DefValue != "[]" {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(w, "  --%s  [%s]\n      %s%s\n", f.Name, envName(f.Name), f.Usage, def)
		})
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	return applyEnv(fs, os.Getenv)
}
