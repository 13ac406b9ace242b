package processor

import "context"

// WithBeforeCreate returns cfg with f run before EnsureTopics creates each
// topic: f may change the spec (a config the broker refuses) or fail, so a
// test can make a creation fail midway.
func WithBeforeCreate(cfg TopicsConfig, f func(ctx context.Context, s *TopicSpec) error) TopicsConfig {
	cfg.beforeCreate = f
	return cfg
}
