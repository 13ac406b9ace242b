//go:build !linux

package main

import (
	"errors"
	"os"
)

// errNoUsage: the child's CPU and RSS are read from /proc and from a
// Linux rusage (whose ru_maxrss unit differs between systems); elsewhere
// the bench stops with this error at its first sample rather than print
// rates without the figures it exists for.
var errNoUsage = errors.New("the child's CPU and RSS are measured on Linux only")

func sampleChild(int) (childUsage, error) { return childUsage{}, errNoUsage }

func exitedUsage(*os.ProcessState) (childUsage, error) { return childUsage{}, errNoUsage }
