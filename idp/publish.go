package idp

import (
	"net/http"
	"strconv"
)

// MetadataContentType is the media type of SAML metadata (SAML metadata
// spec, section 4.1.1).
const MetadataContentType = "application/samlmetadata+xml"

// MetadataFilename is the file name Huawei Partner Center asks for.
const MetadataFilename = "IDP-Metadata.xml"

// handleMetadata serves our IDP Metadata.xml; ?download=1 makes browsers
// save it under the name the partner uploads.
func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.fail(w, r, s.newEvent(r, EventHTTP), &RequestError{Status: http.StatusMethodNotAllowed, Reason: ReasonMethodNotAllowed,
			Msg: "The metadata is read with GET."})
		return
	}
	h := w.Header()
	h.Set("Content-Type", MetadataContentType)
	xml := *s.metadataXML.Load()
	h.Set("Content-Length", strconv.Itoa(len(xml)))
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("download") == "1" {
		h.Set("Content-Disposition", `attachment; filename="`+MetadataFilename+`"`)
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(xml)
	}
	s.metrics.request("metadata", "served", "")
}

// handleNotFound answers every other path (also /metrics, which is on the
// admin listener); it is audited like every refusal.
func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, s.newEvent(r, EventHTTP), &RequestError{Status: http.StatusNotFound, Reason: ReasonNotFound,
		Msg: "There is nothing at this address."})
}
