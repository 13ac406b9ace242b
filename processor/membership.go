package processor

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A member serves reads of its tasks only while it is sure they are still
// its own. Two things put that in doubt before the group callbacks can say
// so: a group-management error (a failed heartbeat, a fenced instance), and
// the process itself having stopped (SIGSTOP, a long GC or VM pause) for
// long enough that the group may have moved on without it. In both cases
// the member answers 503 until the broker settles it: a new generation's
// SyncGroup (setGeneration), or a DescribeGroups in which the group is
// stable and lists this member with exactly the tasks it holds.

// groupErrorHook adapts a function to franz-go's HookGroupManageError.
type groupErrorHook func(error)

func (h groupErrorHook) OnGroupManageError(err error) { h(err) }

var _ kgo.HookGroupManageError = groupErrorHook(nil)

// groupError puts the membership in doubt.
func (p *Processor) groupError(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.doubt == "" {
		p.log.Warn("group membership in doubt; reads answer 503 until the group confirms it", "err", err)
	}
	p.doubt = fmt.Sprintf("group error: %v", err)
}

// watchMembership notices that the process stopped for a while (the ticker
// falls behind the clock) and, while the membership is in doubt, asks the
// group whether it still holds; it returns when ctx ends.
func (p *Processor) watchMembership(ctx context.Context) {
	const tick = 500 * time.Millisecond
	// A stop of a third of the session timeout leaves the member less
	// than two heartbeats from being expelled: treat it as a doubt.
	stall := p.cfg.SessionTimeout / 3
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if gap := now.Sub(last); gap > stall {
				p.mu.Lock()
				if p.gen != nil {
					p.log.Warn("this process did not run for a while; reads answer 503 until the group confirms the membership", "stopped_for", gap.Round(time.Millisecond))
					p.doubt = fmt.Sprintf("the process did not run for %s", gap.Round(time.Millisecond))
				}
				p.mu.Unlock()
			}
			last = now
			p.mu.Lock()
			doubt := p.doubt != ""
			p.mu.Unlock()
			if doubt {
				p.confirmMembership(ctx)
			}
		}
	}
}

// confirmMembership clears the doubt if the group is stable and lists this
// member (its current member id) with exactly the tasks it holds.
func (p *Processor) confirmMembership(ctx context.Context) {
	member, _ := p.sess.Client().GroupMetadata()
	if member == "" {
		return
	}
	adm, closeAdm, err := p.admin()
	if err != nil {
		return
	}
	defer closeAdm()
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	groups, err := adm.DescribeGroups(dctx, p.cfg.Group)
	if err != nil {
		return
	}
	g, ok := groups[p.cfg.Group]
	if !ok || g.Err != nil || g.State != "Stable" {
		return
	}
	for _, m := range g.Members {
		if m.MemberID != member {
			continue
		}
		tasks := describedTasks(m)
		p.mu.Lock()
		if p.doubt != "" && p.gen != nil && sameTasks(tasks, p.gen) {
			p.log.Info("the group confirms this member's tasks; serving reads again", "tasks", tasks)
			p.doubt = ""
		}
		p.mu.Unlock()
		return
	}
}

// describedTasks reads the tasks of a DescribeGroups member: the partitions
// of its consumer-protocol assignment.
func describedTasks(m kadm.DescribedGroupMember) []int32 {
	a, ok := m.Assigned.AsConsumer()
	if !ok {
		return nil
	}
	parts := map[string][]int32{}
	for _, t := range a.Topics {
		parts[t.Topic] = t.Partitions
	}
	return assignedTasks(parts)
}

func sameTasks(tasks []int32, set map[int32]bool) bool {
	if len(tasks) != len(set) {
		return false
	}
	for _, t := range tasks {
		if !set[t] {
			return false
		}
	}
	return true
}
