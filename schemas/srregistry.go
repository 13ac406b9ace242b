package schemas

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/twmb/franz-go/pkg/sr"
)

// SRRegistry adapts franz-go's schema registry client to Registry.
type SRRegistry struct{ cl *sr.Client }

// NewSRRegistry returns cl as a Registry.
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
		return "", fmt.Errorf("schema id %d: %w", id, err)
	}
	if s.Type != sr.TypeAvro {
		return "", fmt.Errorf("schema id %d is %s, not Avro: %w", id, s.Type, ErrSchemaNotFound)
	}
	if len(s.References) > 0 {
		return "", fmt.Errorf("schema id %d has references, which custream does not resolve: %w", id, ErrSchemaNotFound)
	}
	return s.Schema, nil
}

// Register implements Registry (POST /subjects/{subject}/versions).
func (r *SRRegistry) Register(ctx context.Context, subject, schema string) (int, error) {
	id, err := r.cl.RegisterSchema(ctx, subject, sr.Schema{Schema: schema, Type: sr.TypeAvro}, -1, -1)
	if err != nil {
		return 0, fmt.Errorf("register schema under subject %q: %w", subject, err)
	}
	return id, nil
}
