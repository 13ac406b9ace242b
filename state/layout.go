package state

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// layoutVersion names the key layout of keys.go. Bump it whenever a table's
// keys or values change meaning: a store of another layout is refused at
// Open rather than read wrongly (its tasks would resume from their
// checkpoints and silently miss what the old layout held).
//
//	1  first layout (cross-scope index as one key per holder)
//	2  cross-scope index as one list of holders per identifier
//	3  no identifier table: OwnerInScope reads the holder list
//	4  no request-by-time table (a sweep finds expired request ids)
const layoutVersion = 4

// layoutKey lies outside every task's keyspace: task prefixes are
// non-negative int32s, so their first byte is at most 0x7f, and Drop's
// range delete never reaches it.
var layoutKey = []byte("\xffcustream.layout")

// checkLayout writes the layout version into a new store and refuses a
// store of another version.
func checkLayout(pdb *pebble.DB, dir string) error {
	v, closer, err := pdb.Get(layoutKey)
	switch {
	case err == nil:
		defer closer.Close()
		if len(v) == 8 && readInt64(v) == layoutVersion {
			return nil
		}
		return fmt.Errorf("state in %s has key layout %x, this custream writes layout %d: delete the state dir and custream rebuilds it from the changelog", dir, v, layoutVersion)
	case !errors.Is(err, pebble.ErrNotFound):
		return fmt.Errorf("reading the layout version in %s: %w", dir, err)
	}
	it, err := pdb.NewIter(nil)
	if err != nil {
		return fmt.Errorf("checking whether %s is empty: %w", dir, err)
	}
	nonEmpty := it.First()
	if err := it.Close(); err != nil {
		return fmt.Errorf("checking whether %s is empty: %w", dir, err)
	}
	if nonEmpty {
		return fmt.Errorf("state in %s has no layout version (written by an older custream): delete the state dir and custream rebuilds it from the changelog", dir)
	}
	if err := pdb.Set(layoutKey, appendInt64(nil, layoutVersion), pebble.Sync); err != nil {
		return fmt.Errorf("writing the layout version in %s: %w", dir, err)
	}
	return nil
}
