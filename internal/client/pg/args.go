package pg

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// An argGen appends one parameter value, in PostgreSQL's text format, for
// row number row. A nil result (not an empty one) sends NULL.
type argGen func(dst []byte, row int64, rnd *rand.Rand) []byte

// Argument generators for InsertLoop's Args (parameter $i takes Args[i-1]):
//
//	row            the row number, 1..N, unique within the loop
//	id             "<run id>-<row>": unique across runs (text keys)
//	int[:MIN:MAX]  uniform random integer (default 0..2147483647)
//	float          uniform random in [0,1)
//	text[:N]       N random characters from [a-z0-9] (default 16)
//	uuid           random version-4 UUID
//	bool           random true/false
//	now            the current time
//	null           NULL
//	const:VALUE    VALUE verbatim
//
// Without Args, $1 is the row number ("id" if $1 is text) and each further
// parameter gets a random value of its type, as the server describes it:
// integers "int" (within the type's range), float and numeric "float",
// text and varchar "text", uuid, bool, and date/timestamp "now".
func parseArg(spec, runID string) (argGen, error) {
	name, rest, hasRest := strings.Cut(spec, ":")
	switch name {
	case "row":
		return func(dst []byte, row int64, _ *rand.Rand) []byte { return strconv.AppendInt(dst, row, 10) }, nil
	case "id":
		prefix := runID + "-"
		return func(dst []byte, row int64, _ *rand.Rand) []byte {
			return strconv.AppendInt(append(dst, prefix...), row, 10)
		}, nil
	case "int":
		lo, hi := int64(0), int64(1<<31-1)
		if hasRest {
			a, b, ok := strings.Cut(rest, ":")
			var err1, err2 error
			lo, err1 = strconv.ParseInt(a, 10, 64)
			hi, err2 = strconv.ParseInt(b, 10, 64)
			if !ok || err1 != nil || err2 != nil || hi < lo {
				return nil, fmt.Errorf("argument %q: want int:MIN:MAX with MIN <= MAX", spec)
			}
		}
		return randInt(lo, hi), nil
	case "float":
		return func(dst []byte, _ int64, rnd *rand.Rand) []byte {
			return strconv.AppendFloat(dst, rnd.Float64(), 'g', -1, 64)
		}, nil
	case "text":
		n := 16
		if hasRest {
			v, err := strconv.Atoi(rest)
			if err != nil || v < 0 {
				return nil, fmt.Errorf("argument %q: want text:N with N >= 0", spec)
			}
			n = v
		}
		return randText(n), nil
	case "uuid":
		return randUUID, nil
	case "bool":
		return func(dst []byte, _ int64, rnd *rand.Rand) []byte {
			if rnd.IntN(2) == 0 {
				return append(dst, 'f')
			}
			return append(dst, 't')
		}, nil
	case "now":
		return func(dst []byte, _ int64, _ *rand.Rand) []byte {
			return time.Now().AppendFormat(dst, "2006-01-02 15:04:05.999999Z07:00")
		}, nil
	case "null":
		return func([]byte, int64, *rand.Rand) []byte { return nil }, nil
	case "const":
		if !hasRest {
			return nil, fmt.Errorf("argument %q: want const:VALUE", spec)
		}
		return func(dst []byte, _ int64, _ *rand.Rand) []byte { return append(dst, rest...) }, nil
	}
	return nil, fmt.Errorf("argument %q: unknown generator (want row, id, int, float, text, uuid, bool, now, null or const)", spec)
}

// inferArg picks the default generator for parameter i (0-based) of type oid.
func inferArg(i int, oid uint32, runID string) (argGen, error) {
	spec := ""
	switch oid {
	case pgtype.Int2OID:
		spec = "int:0:32767"
	case pgtype.Int4OID, pgtype.Int8OID:
		spec = "int"
	case pgtype.Float4OID, pgtype.Float8OID, pgtype.NumericOID:
		spec = "float"
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID:
		spec = "text"
	case pgtype.UUIDOID:
		spec = "uuid"
	case pgtype.BoolOID:
		spec = "bool"
	case pgtype.DateOID, pgtype.TimestampOID, pgtype.TimestamptzOID:
		spec = "now"
	default:
		return nil, fmt.Errorf("parameter $%d has type OID %d: no default generator, set Args", i+1, oid)
	}
	if i == 0 {
		switch spec {
		case "int", "int:0:32767", "float":
			spec = "row"
		case "text":
			spec = "id"
		}
	}
	return parseArg(spec, runID)
}

func randInt(lo, hi int64) argGen {
	span := uint64(hi - lo)
	return func(dst []byte, _ int64, rnd *rand.Rand) []byte {
		var v uint64
		if span == ^uint64(0) {
			v = rnd.Uint64()
		} else {
			v = rnd.Uint64N(span + 1)
		}
		return strconv.AppendInt(dst, lo+int64(v), 10)
	}
}

const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"

func randText(n int) argGen {
	return func(dst []byte, _ int64, rnd *rand.Rand) []byte {
		for range n {
			dst = append(dst, alnum[rnd.IntN(len(alnum))])
		}
		return dst
	}
}

func randUUID(dst []byte, _ int64, rnd *rand.Rand) []byte {
	var b [16]byte
	hi, lo := rnd.Uint64(), rnd.Uint64()
	for i := range 8 {
		b[i], b[8+i] = byte(hi>>(8*i)), byte(lo>>(8*i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hexd = "0123456789abcdef"
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexd[x>>4], hexd[x&0x0f])
	}
	return dst
}
