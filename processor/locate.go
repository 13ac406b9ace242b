package processor

import (
	"fmt"

	"github.com/custream/custream/processor/customer"
)

// Location says where a task's state can be read now.
type Location struct {
	// Reader is set when this member owns the task and has restored it.
	Reader customer.Reader
	// Remote is the owner's HTTP address when another member owns it.
	Remote string
	// Neither set: the task is restoring or moving (a rebalance is under
	// way); the caller should answer "try again shortly".
	Reason string
}

// Locate tells where task's state is. It never guesses: during a rebalance
// or a restore the answer is "unavailable", never a stale owner.
func (p *Processor) Locate(task int32) Location {
	p.mu.Lock()
	defer p.mu.Unlock()
	if task < 0 || task >= p.partitions {
		return Location{Reason: fmt.Sprintf("no task %d (there are %d)", task, p.partitions)}
	}
	if t := p.ready[task]; t != nil {
		return Location{Reader: t.Reader()}
	}
	if p.assigned[task] {
		return Location{Reason: fmt.Sprintf("task %d is restoring", task)}
	}
	if p.owners == nil {
		return Location{Reason: "the group is rebalancing"}
	}
	addr, ok := p.owners[task]
	switch {
	case !ok:
		return Location{Reason: fmt.Sprintf("task %d has no owner yet", task)}
	case addr == "":
		return Location{Reason: fmt.Sprintf("the owner of task %d advertises no HTTP address", task)}
	case addr == p.cfg.AdvertiseHTTP:
		// Ours by the map, but not assigned yet: the assignment is on
		// its way.
		return Location{Reason: fmt.Sprintf("task %d is being assigned", task)}
	}
	return Location{Remote: addr}
}

// Ready reports whether this member is in the group and has restored every
// task it owns, with a reason when it is not.
func (p *Processor) Ready() (bool, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.owners == nil:
		return false, "not in the group yet (or rebalancing)"
	case len(p.pending) > 0:
		return false, fmt.Sprintf("restoring tasks %v", sortedKeys(p.pending))
	}
	return true, fmt.Sprintf("tasks %v ready", sortedKeys(p.ready))
}

// setOwners records the task → HTTP address map of a new generation.
func (p *Processor) setOwners(owners map[int32]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if owners == nil {
		owners = map[int32]string{}
	}
	p.owners = owners
}
