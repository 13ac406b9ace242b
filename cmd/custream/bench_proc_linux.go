//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of the times in /proc/<pid>/stat: USER_HZ, which the
// kernel fixes at 100 for user space on every architecture Go runs on
// (reading it with sysconf would take cgo).
const userHZ = 100

// sampleChild reads a running child's CPU so far (user + system of all its
// threads, /proc/<pid>/stat; 10 ms resolution) and its peak RSS so far
// (VmHWM, /proc/<pid>/status), for the figures between two moments of its
// life that its rusage at exit cannot split.
func sampleChild(pid int) (childUsage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return childUsage{}, fmt.Errorf("sampling the child: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count the fields after its closing one. Field 3 (state) is then
	// fields[0], utime (field 14) fields[11], stime (15) fields[12].
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 13 {
		return childUsage{}, fmt.Errorf("sampling the child: /proc/%d/stat has %d fields after the name", pid, len(fields))
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return childUsage{}, fmt.Errorf("sampling the child: /proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	u := childUsage{cpu: time.Duration(ticks) * time.Second / userHZ}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return childUsage{}, fmt.Errorf("sampling the child: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return childUsage{}, fmt.Errorf("sampling the child: /proc/%d/status VmHWM: %w", pid, err)
			}
			u.peakRSS = kb << 10
			return u, nil
		}
	}
	return childUsage{}, fmt.Errorf("sampling the child: /proc/%d/status has no VmHWM", pid)
}

// exitedUsage is the rusage of a child that has exited and been waited
// for: the CPU of its whole life, and ru_maxrss (KiB on Linux), which
// counts the bench's own memory too (benchChild.stop says why and reads
// the child's own peak instead).
func exitedUsage(ps *os.ProcessState) (childUsage, error) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return childUsage{}, fmt.Errorf("the child's rusage is a %T", ps.SysUsage())
	}
	return childUsage{cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), peakRSS: ru.Maxrss << 10}, nil
}
