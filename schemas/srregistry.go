package schemas

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/twmb/franz-go/pkg/sr"
)

// SRRegistry adapts franz-go's schema registry client to Registry and
// OutputRegistry.
type SRRegistry struct{ cl *sr.Client }

// NewSRRegistry returns cl as a Registry and an OutputRegistry.
func NewSRRegistry(cl *sr.Client) *SRRegistry { return &SRRegistry{cl: cl} }

// SchemaByID implements Registry (GET /schemas/ids/{id}). Only Avro schemas
// without references can be used: custream's own schemas have none.
func (r *SRRegistry) SchemaByID(ctx context.Context, id int) (string, error) {
	s, err := r.cl.SchemaByID(ctx, id)
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && (re.StatusCode == http.StatusNotFound || re.ErrorCode == sr.ErrSchemaNotFound.Code) {
			return "", fmt.Errorf("schema id %d: %w: %w", id, ErrSchemaNotFound, err)
		}
		return "", fmt.Errorf("schema id %d: %w", id, classify(err))
	}
	if s.Type != sr.TypeAvro {
		return "", fmt.Errorf("schema id %d is %s, not Avro: %w", id, s.Type, ErrSchemaNotFound)
	}
	if len(s.References) > 0 {
		return "", fmt.Errorf("schema id %d has references, which custream does not resolve: %w", id, ErrSchemaNotFound)
	}
	return s.Schema, nil
}

// Register implements Registry and OutputRegistry (POST
// /subjects/{subject}/versions).
func (r *SRRegistry) Register(ctx context.Context, subject, schema string) (int, error) {
	id, err := r.cl.RegisterSchema(ctx, subject, sr.Schema{Schema: schema, Type: sr.TypeAvro}, -1, -1)
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && (re.StatusCode == http.StatusConflict || re.ErrorCode == sr.ErrIncompatibleSchema.Code) {
			return 0, fmt.Errorf("register schema under subject %q: %w: %w", subject, ErrIncompatibleSchema, describe(re))
		}
		return 0, fmt.Errorf("register schema under subject %q: %w", subject, classify(err))
	}
	return id, nil
}

// SubjectExists implements OutputRegistry (GET /subjects/{subject}/versions;
// 404 is false).
func (r *SRRegistry) SubjectExists(ctx context.Context, subject string) (bool, error) {
	vs, err := r.cl.SubjectVersions(ctx, subject)
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && (re.StatusCode == http.StatusNotFound || re.ErrorCode == sr.ErrSubjectNotFound.Code) {
			return false, nil
		}
		return false, classify(err)
	}
	return len(vs) > 0, nil
}

// SetCompatibility implements OutputRegistry (PUT /config/{subject}).
func (r *SRRegistry) SetCompatibility(ctx context.Context, subject, level string) error {
	var lvl sr.CompatibilityLevel
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return fmt.Errorf("compatibility level %q: %w", level, err)
	}
	for _, res := range r.cl.SetCompatibility(ctx, sr.SetCompatibility{Level: lvl}, subject) {
		if res.Err != nil {
			return classify(res.Err)
		}
	}
	return nil
}

// Compatibility implements OutputRegistry (GET /config/{subject}, with the
// global level for a subject without its own).
func (r *SRRegistry) Compatibility(ctx context.Context, subject string) (string, error) {
	res := r.cl.Compatibility(sr.WithParams(ctx, sr.DefaultToGlobal), subject)
	if len(res) == 0 {
		return "", errors.New("no answer")
	}
	if res[0].Err != nil {
		return "", classify(res[0].Err)
	}
	return res[0].Level.String(), nil
}

// classify wraps err with ErrRegistryUnavailable when it is worth retrying:
// no answer at all (connection refused, timeout, TLS handshake), a server
// error (5xx), or 408/429. Any other answer (401, 403, 404, 422, …) is the
// registry's word on the request, given with its status.
func classify(err error) error {
	var re *sr.ResponseError
	if !errors.As(err, &re) {
		return fmt.Errorf("%w: %w", ErrRegistryUnavailable, err)
	}
	if re.StatusCode >= 500 || re.StatusCode == http.StatusRequestTimeout || re.StatusCode == http.StatusTooManyRequests {
		return fmt.Errorf("%w: %w", ErrRegistryUnavailable, describe(re))
	}
	return describe(re)
}

// describe adds the HTTP status to a registry's answer (sr.ResponseError
// says only its message).
func describe(re *sr.ResponseError) error {
	return fmt.Errorf("%s %s: HTTP %d: %w", re.Method, re.URL, re.StatusCode, re)
}
