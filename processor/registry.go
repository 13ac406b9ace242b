package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/custream/custream/schemas"
)

// The schema registry, as the processor meets it: at start, with the
// Confluent output format, the output schemas are registered (retried
// while the registry does not answer, at most Config.RegistryWait); while
// running, a batch whose Confluent input needs a writer schema the
// registry cannot give is aborted and retried after a backoff, so no good
// record is dead-lettered because the registry is down.

// registerOutputs registers the output schemas under their subjects and
// returns their ids, logging each subject and id. A registry that does not
// answer is retried with backoff until it does or cfg.RegistryWait (or
// ctx) runs out; any other refusal — an incompatible schema, bad
// credentials — ends it at once.
func registerOutputs(ctx context.Context, cfg Config, log *slog.Logger) (schemas.OutputIDs, error) {
	t := cfg.Topology
	topics := schemas.OutputTopics{Results: t.Results, Merges: t.Merges, Snapshots: t.Snapshots}
	ctx, cancel := context.WithTimeout(ctx, cfg.RegistryWait)
	defer cancel()
	began := time.Now()
	backoff := RegistryBackoffMin
	for attempt := 1; ; attempt++ {
		ids, regs, err := schemas.RegisterOutputs(ctx, cfg.OutputRegistry, topics, cfg.SubjectStrategy)
		if err == nil {
			for _, r := range regs {
				log.Info("schema registered", "topic", r.Topic, "subject", r.Subject, "schema", r.Schema, "id", r.ID,
					"new_subject", r.Created)
			}
			return ids, nil
		}
		if !errors.Is(err, schemas.ErrRegistryUnavailable) || ctx.Err() != nil {
			if ctx.Err() != nil && errors.Is(err, schemas.ErrRegistryUnavailable) {
				return schemas.OutputIDs{}, fmt.Errorf("the schema registry did not answer for %s (%d attempts, --schema-registry-wait %s): %w",
					time.Since(began).Round(time.Second), attempt, cfg.RegistryWait, err)
			}
			return schemas.OutputIDs{}, fmt.Errorf("registering the output schemas: %w", err)
		}
		cfg.Metrics.registryErrors.WithLabelValues("register").Inc()
		log.Warn("the schema registry does not answer; retrying", "attempt", attempt, "retry_in", backoff,
			"gives_up_in", (cfg.RegistryWait - time.Since(began)).Round(time.Second), "err", err)
		sleep(ctx, backoff)
		backoff = min(2*backoff, RegistryBackoffMax)
	}
}

// retryBatch says that a batch was aborted because the schema registry
// could not give a writer schema: the batch is retried after a backoff,
// nothing of it went to the DLQ.
type retryBatch struct{ err error }

func (e *retryBatch) Error() string { return e.err.Error() }
func (e *retryBatch) Unwrap() error { return e.err }

// waitForRegistry counts and logs a batch aborted for the registry and
// waits before the loop retries it, longer each time in a row.
func (p *Processor) waitForRegistry(ctx context.Context, err error) {
	p.registryBackoff = min(max(2*p.registryBackoff, RegistryBackoffMin), RegistryBackoffMax)
	p.cfg.Metrics.registryErrors.WithLabelValues("fetch").Inc()
	p.log.Warn("the schema registry cannot give a writer schema; the batch is aborted and retried, nothing goes to the DLQ",
		"retry_in", p.registryBackoff, "err", err)
	sleep(ctx, p.registryBackoff)
}
