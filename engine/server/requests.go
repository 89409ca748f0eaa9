package server

import (
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/cadang/cadang/engine/api"
)

// The routes of the agencies' requests (restores and exports that need approval). The
// service checks who may see and decide what: an agency principal only its own
// agency's requests (another's is answered like one that does not exist), an approver
// only as the role it holds, a requester never its own approval.

// actor is who sent r, as the service's checks want it.
func actor(r *http.Request) api.Actor {
	p := principalOf(r)
	return api.Actor{Name: p.Name, Role: p.Role, Agency: p.Agency,
		Ticket: oneLine(r.Header.Get(api.TicketHeader), 100), Source: source(r)}
}

func (h *handlers) requests(w http.ResponseWriter, r *http.Request) {
	agency := r.URL.Query().Get("agency")
	if a := principalOf(r).Agency; a != "" {
		agency = a // an agency's own, whatever it asked
	}
	out, err := h.s.Requests(agency, r.URL.Query().Get("status"))
	answer(w, out, err)
}

func (h *handlers) request(w http.ResponseWriter, r *http.Request) {
	id, err := runID(r)
	if err != nil {
		fail(w, err)
		return
	}
	out, err := h.s.Request(id, principalOf(r).Agency)
	answer(w, out, err)
}

func (h *handlers) decide(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := runID(r)
		if err != nil {
			fail(w, err)
			return
		}
		var req api.DecisionRequest
		if err := decode(r, &req); err != nil {
			fail(w, err)
			return
		}
		out, err := h.s.Decide(id, approve, req, actor(r))
		answer(w, out, err)
	}
}

// download streams an export's bundle; a whole one is the hand-over.
func (h *handlers) download(w http.ResponseWriter, r *http.Request) {
	id, err := runID(r)
	if err != nil {
		fail(w, err)
		return
	}
	body, size, done, err := h.s.Download(r.Context(), id, actor(r))
	if err != nil {
		fail(w, err)
		return
	}
	defer body.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="cadang-export-%d.tar.zst.age"`, id))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	n, err := io.Copy(w, body)
	done(err == nil && n == size)
}

func (h *handlers) handover(w http.ResponseWriter, r *http.Request) {
	id, err := runID(r)
	if err != nil {
		fail(w, err)
		return
	}
	format, lang, err := reportParams(r)
	if err != nil {
		fail(w, err)
		return
	}
	b, err := h.s.Handover(id, principalOf(r).Agency, format, lang)
	if err != nil {
		fail(w, err)
		return
	}
	writeReport(w, format, b)
}
