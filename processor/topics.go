package processor

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/schemas"
)

// Topology names every topic of one deployment.
type Topology struct {
	Inputs    []Input // one per source, and the points topic
	Results   string
	Merges    string
	Snapshots string // compacted, key = customer id
	DLQ       string
	Changelog string // compacted, internal
	// Repartition is the internal topic misrouted commands are forwarded
	// to: partition task(org), consumed by that task beside its inputs.
	Repartition string
}

// Input is one input topic: a source's commands, or (Balances) the
// loyalty engine's balances.
type Input struct {
	Topic  string
	Source customer.Source
	// Balances marks the points topic: its records are balances
	// (schemas.DecodeBalance), not commands, and Source is PointsSource.
	Balances bool
}

// PointsSource is the points topic's name where a source's would be: in
// org allow-lists (--source-orgs-file), signing requirements and metrics.
// Lower case, so no configured source (upper case) can be it.
const PointsSource = "points"

// PointsInput is the points topic of that name.
func PointsInput(topic string) Input {
	return Input{Topic: topic, Source: customer.Source{Name: PointsSource}, Balances: true}
}

// DefaultTopology gives the names of DESIGN.md: customers.<source> inputs,
// customers.points, customers.results/merges/snapshots/dlq, and
// <group>-changelog.
func DefaultTopology(prefix, group string, sources []customer.Source) Topology {
	t := Topology{
		Results:     prefix + ".results",
		Merges:      prefix + ".merges",
		Snapshots:   prefix + ".snapshots",
		DLQ:         prefix + ".dlq",
		Changelog:   group + "-changelog",
		Repartition: group + "-repartition",
	}
	for _, s := range sources {
		t.Inputs = append(t.Inputs, Input{Topic: prefix + "." + strings.ToLower(s.Name), Source: s})
	}
	t.Inputs = append(t.Inputs, PointsInput(prefix+".points"))
	return t
}

// CommandInputs lists the sources' command topics, without the points
// topic.
func (t Topology) CommandInputs() []Input {
	out := make([]Input, 0, len(t.Inputs))
	for _, in := range t.Inputs {
		if !in.Balances {
			out = append(out, in)
		}
	}
	return out
}

// PointsTopic is the points topic's name, "" when the topology has none.
func (t Topology) PointsTopic() string {
	for _, in := range t.Inputs {
		if in.Balances {
			return in.Topic
		}
	}
	return ""
}

// InputTopics lists the input topic names.
func (t Topology) InputTopics() []string {
	out := make([]string, len(t.Inputs))
	for i, in := range t.Inputs {
		out[i] = in.Topic
	}
	return out
}

// ConsumedTopics lists every topic the processor consumes: the inputs and
// the repartition topic.
func (t Topology) ConsumedTopics() []string {
	return append(t.InputTopics(), t.Repartition)
}

// SourceOf returns the source whose commands arrive on topic.
func (t Topology) SourceOf(topic string) (customer.Source, bool) {
	for _, in := range t.Inputs {
		if in.Topic == topic {
			return in.Source, true
		}
	}
	return customer.Source{}, false
}

// Names lists every topic of t, as Specs does.
func (t Topology) Names() []string {
	specs := t.Specs()
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.Name
	}
	return out
}

// TopicSpec is one topic as custream needs it.
type TopicSpec struct {
	Name      string
	Compacted bool
	// Configs are set when custream creates the topic.
	Configs map[string]string
}

// repartitionConfigs are the repartition topic's: records are deleted once
// consumed (custream deletes them up to the committed offsets, as Kafka
// Streams purges its repartition topics), never by age, so a task that is
// down or restoring for days loses none. Records are at most
// schemas.MaxRecordBytes plus the origin headers: larger ones are refused
// on arrival, not forwarded.
func repartitionConfigs() map[string]string {
	return map[string]string{
		"cleanup.policy":    "delete",
		"retention.ms":      "-1",
		"retention.bytes":   "-1",
		"max.message.bytes": strconv.Itoa(schemas.MaxRecordBytes + 64<<10),
	}
}

// Specs lists every topic with its cleanup policy. Every topic has the same
// partition count: task p reads partition p of every input and writes
// partition p of every output, so per-org order holds end to end and a
// customer id (which encodes its task) always lands in the same partition
// of the compacted snapshots topic.
func (t Topology) Specs() []TopicSpec {
	var out []TopicSpec
	for _, in := range t.Inputs {
		out = append(out, TopicSpec{Name: in.Topic})
	}
	return append(out,
		TopicSpec{Name: t.Results},
		TopicSpec{Name: t.Merges},
		TopicSpec{Name: t.Snapshots, Compacted: true},
		TopicSpec{Name: t.DLQ},
		TopicSpec{Name: t.Changelog, Compacted: true},
		TopicSpec{Name: t.Repartition, Configs: repartitionConfigs()},
	)
}

// defaultMaxMessageBytes is Kafka's default message.max.bytes, used for a
// topic whose limit could not be read.
const defaultMaxMessageBytes = 1048588

// MaxMessageBytes reads the max.message.bytes of topics from the broker
// (the topic's setting, or the broker's message.max.bytes it inherits).
func MaxMessageBytes(ctx context.Context, adm *kadm.Client, topics ...string) (map[string]int32, error) {
	rc, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("describing topic configs: %w", err)
	}
	out := make(map[string]int32, len(topics))
	for _, n := range topics {
		r, err := rc.On(n, nil)
		if err == nil {
			err = r.Err
		}
		if err != nil {
			return nil, fmt.Errorf("describing configs of %s: %w", n, err)
		}
		out[n] = defaultMaxMessageBytes
		for _, c := range r.Configs {
			if c.Key == "max.message.bytes" && c.Value != nil {
				v, err := strconv.ParseInt(*c.Value, 10, 32)
				if err != nil || v < 512 {
					return nil, fmt.Errorf("topic %s: max.message.bytes %q is not a usable size", n, *c.Value)
				}
				out[n] = int32(min(v, 1<<30))
			}
		}
	}
	return out, nil
}
