package processor

import "sort"

// joinReport is what this member's v2 join metadata says (balancer.go):
// the tasks of the last generation it had, and the checkpoint of every
// task whose state its Pebble holds, so the leader keeps tasks where they
// are and moves them to a warm copy when they must move.
func (p *Processor) joinReport() (owned []int32, warm map[int32]int64) {
	p.mu.Lock()
	owned = append([]int32(nil), p.lastGen...)
	p.mu.Unlock()
	warm, err := p.db.Checkpoints(p.partitions)
	if err != nil {
		// The leader then prefers no copy of ours: a task may restore
		// in full where it could have restored the tail.
		p.log.Warn("reading the tasks' checkpoints for the group join; reporting those read", "err", err)
	}
	return owned, warm
}

// causeStarted labels the first generation a process sees: a static
// member that restarted within the session timeout gets its tasks back
// without a group rebalance, but this process still joined once.
const causeStarted = "started"

// countGeneration counts a new generation in the rebalance metrics, with
// the tasks this member gained and lost since the previous one this
// process saw; p.mu is held. The first generation of a process counts
// no moves: there is no previous one to compare with.
func (p *Processor) countGeneration(generation int32) {
	if generation == p.counted || p.gen == nil {
		return
	}
	m := p.cfg.Metrics
	if p.counted == 0 {
		m.rebalances.WithLabelValues(causeStarted).Inc()
	} else {
		m.rebalances.WithLabelValues(p.genCause).Inc()
		var gained, lost []int32
		for t := range p.gen {
			if !p.countedTasks[t] {
				gained = append(gained, t)
			}
		}
		for t := range p.countedTasks {
			if !p.gen[t] {
				lost = append(lost, t)
			}
		}
		m.taskMoves.WithLabelValues("gained").Add(float64(len(gained)))
		m.taskMoves.WithLabelValues("lost").Add(float64(len(lost)))
		if len(gained)+len(lost) > 0 {
			sort.Slice(gained, func(i, j int) bool { return gained[i] < gained[j] })
			sort.Slice(lost, func(i, j int) bool { return lost[i] < lost[j] })
			p.log.Info("tasks moved at a rebalance", "generation", generation, "cause", p.genCause, "gained", gained, "lost", lost)
		}
	}
	p.counted = generation
	p.countedTasks = make(map[int32]bool, len(p.gen))
	for t := range p.gen {
		p.countedTasks[t] = true
	}
}
