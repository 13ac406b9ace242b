//go:build !linux

package main

import (
	"errors"
	"os"
)

// errNoUsage: the child's CPU and RSS are read from /proc and from a
// Linux rusage (whose ru_maxrss unit differs between systems); elsewhere
// the bench prints its rates without them.
var errNoUsage = errors.New("the child's CPU and RSS are measured on Linux only")

func sampleChild(int) (childUsage, error) { return childUsage{}, errNoUsage }

func exitedUsage(*os.ProcessState) (childUsage, error) { return childUsage{}, errNoUsage }
