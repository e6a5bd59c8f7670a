package main

import (
	"bytes"
)

// Request bodies, assembled from pre-encoded parts into a reused buffer.

// rulekeeperBody: POST /authz/check by reference (subject id, resource by
// type and id), the way external services ask.
func rulekeeperBody(buf *bytes.Buffer, w *workload, s, i int) {
	it := &w.Items[i]
	buf.WriteString(`{"subject":{"id":`)
	buf.Write(w.SubjectIDs[s])
	buf.WriteString(`},"action":`)
	buf.Write(it.Action)
	buf.WriteString(`,"resource":`)
	buf.Write(it.Request)
	buf.WriteString(`,"context":{"environment":"hub"}}`)
}

// opaBody: POST /v1/data/rulekeeper/authz/decision with the hydrated input.
func opaBody(buf *bytes.Buffer, w *workload, s, i int) {
	it := &w.Items[i]
	buf.WriteString(`{"input":{"subject":`)
	buf.Write(w.SubjectJSON[s])
	buf.WriteString(`,"action":`)
	buf.Write(it.Action)
	buf.WriteString(`,"resource":`)
	buf.Write(it.Hydrated)
	buf.WriteString(`,"context":{"environment":"hub"}}}`)
}
