package main

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
)

// cpuProfileEnv, set to a file name in the environment of `custream run`,
// makes it write a CPU profile of its whole life there. It is how
// `custream bench --cpuprofile` profiles the child it measures
// (docs/benchmarks.md); an environment variable rather than a flag of
// run, so run's flags stay the ones an operator needs.
const cpuProfileEnv = "CUSTREAM_CPUPROFILE"

// startEnvCPUProfile starts the profile cpuProfileEnv asks for, if any,
// and returns what stops it and closes the file. A profile that cannot be
// started is reported and the run goes on without it.
func startEnvCPUProfile(stderr io.Writer) (stop func()) {
	path := os.Getenv(cpuProfileEnv)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(stderr, "custream: %s: %v (running without a profile)\n", cpuProfileEnv, err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		fmt.Fprintf(stderr, "custream: %s: %v (running without a profile)\n", cpuProfileEnv, err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "custream: %s: writing the profile: %v\n", cpuProfileEnv, err)
		}
	}
}
