package telemetry

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// SQSRequests is the counter of queue calls a replica has made.
const SQSRequests = "wrctl_sqs_requests_total"

// SumCounter adds up every series of the counter name in a Prometheus
// text exposition (what GET /metrics answers), and says whether it found any.
func SumCounter(r io.Reader, name string) (sum float64, found bool, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		fields := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		sum, found = sum+v, true
	}
	return sum, found, sc.Err()
}
