package processor

import (
	"fmt"
	"slices"
	"sort"
	"time"

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
// or a restore, or while this member's membership is in doubt, the answer
// is "unavailable", never a stale owner or a state that stopped advancing.
// What is ours is decided by this generation's assignment, not by what the
// member happens to have restored.
func (p *Processor) Locate(task int32) Location {
	p.mu.Lock()
	defer p.mu.Unlock()
	if task < 0 || task >= p.partitions {
		return Location{Reason: fmt.Sprintf("no task %d (there are %d)", task, p.partitions)}
	}
	if p.doubt != "" {
		return Location{Reason: "this member's group membership is unconfirmed: " + p.doubt}
	}
	if p.gen == nil || p.owners == nil {
		return Location{Reason: "the group is rebalancing"}
	}
	if p.gen[task] {
		if t := p.ready[task]; t != nil {
			return Location{Reader: t.Reader()}
		}
		return Location{Reason: fmt.Sprintf("task %d is restoring", task)}
	}
	addr, ok := p.owners[task]
	switch {
	case !ok:
		return Location{Reason: fmt.Sprintf("task %d has no owner yet", task)}
	case addr == "":
		return Location{Reason: fmt.Sprintf("the owner of task %d advertises no HTTP address", task)}
	case addr == p.cfg.AdvertiseHTTP:
		// Another member advertises our address: a misconfiguration
		// that forwarding to ourselves would turn into a loop.
		return Location{Reason: fmt.Sprintf("task %d belongs to another member advertising this member's address %s", task, addr)}
	}
	return Location{Remote: addr}
}

// Ready reports whether this member is in the group and has restored every
// task it owns, with a reason when it is not.
func (p *Processor) Ready() (bool, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if full, since, err := p.db.DiskFull(); full {
		return false, fmt.Sprintf("the state disk is full since %s (%v): processing waits for space", since.UTC().Format(time.RFC3339), err)
	}
	switch {
	case p.doubt != "":
		return false, "group membership unconfirmed: " + p.doubt
	case p.owners == nil || p.gen == nil:
		return false, "not in the group yet (or rebalancing)"
	case len(p.pending) > 0:
		return false, fmt.Sprintf("restoring tasks %v", sortedKeys(p.pending))
	}
	// The generation's assignment (SyncGroup) arrives before the assign
	// callback marks its tasks pending: in between, a task is neither
	// pending nor ready, and the member is not ready either.
	var waiting []int32
	for t := range p.gen {
		if p.ready[t] == nil {
			waiting = append(waiting, t)
		}
	}
	if len(waiting) > 0 {
		slices.Sort(waiting)
		return false, fmt.Sprintf("tasks %v assigned, not restoring yet", waiting)
	}
	return true, fmt.Sprintf("tasks %v ready", sortedKeys(p.ready))
}

// Tasks returns this member's tasks in the current generation (nil while
// rebalancing) and those of them that are ready.
func (p *Processor) Tasks() (generation, ready []int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gen != nil {
		generation = sortedKeys(p.gen)
	}
	return generation, sortedKeys(p.ready)
}

// setGeneration takes this member's tasks, the owner map and this
// member's standby tasks of a new generation from its SyncGroup
// assignment (a standby is never served: Locate answers with its owner). Tasks outside it are dropped at
// once, from processing and from the facade: franz-go's transactional
// session skips the revoke callback while a revoke it saw has not been
// cleared by an End (kgo/txn.go), so a member idle or restoring since the
// last revoke would otherwise keep, and serve, tasks another member now
// owns. Their open transaction, if any, aborts: the session fails it.
func (p *Processor) setGeneration(tasks []int32, owners map[int32]string, standbys []int32, cause string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if owners == nil {
		owners = map[int32]string{}
	}
	p.lastGen, p.genCause = append([]int32(nil), tasks...), cause
	gen := make(map[int32]bool, len(tasks))
	for _, t := range tasks {
		gen[t] = true
	}
	var dropped []int32
	for t := range p.assigned {
		if !gen[t] {
			dropped = append(dropped, t)
			delete(p.assigned, t)
			delete(p.pending, t)
			delete(p.ready, t)
		}
	}
	p.gen, p.owners, p.doubt = gen, owners, ""
	p.setStandbys(standbys, gen)
	p.updateTaskGauges()
	if len(dropped) > 0 {
		sort.Slice(dropped, func(i, j int) bool { return dropped[i] < dropped[j] })
		p.log.Warn("dropped tasks that are not in this generation's assignment (their revoke was not seen)", "tasks", dropped)
		if p.pollCancel != nil {
			p.pollCancel()
		}
	}
}
