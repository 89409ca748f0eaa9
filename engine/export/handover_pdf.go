package export

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/go-pdf/fpdf"
)

// pdf renders the report as an A4 document in the look of the drill report
// (runbooks): letterhead, title and number, the opening and its parties, the
// numbered body with the table of facts and the approvals, the closing clause and
// the signature blocks. It uses the PDF core fonts (no font files); text is written
// in Windows-1252, which covers Indonesian and English. The page content is not
// compressed: the document is small, and its text stays searchable with grep.
func (h Handover) pdf(v *vocab) ([]byte, error) {
	p := &handoverPDF{f: fpdf.New("P", "mm", "A4", ""), v: v, h: h}
	p.tr = p.f.UnicodeTranslatorFromDescriptor("")
	p.build()
	if err := p.f.Error(); err != nil {
		return nil, fmt.Errorf("export: handover: pdf: %w", err)
	}
	var buf bytes.Buffer
	if err := p.f.Output(&buf); err != nil {
		return nil, fmt.Errorf("export: handover: pdf: %w", err)
	}
	return buf.Bytes(), nil
}

type handoverPDF struct {
	f  *fpdf.Fpdf
	v  *vocab
	h  Handover
	tr func(string) string
}

const (
	pdfMargin = 18.0
	pdfWidth  = 210.0 - 2*pdfMargin
	lineH     = 5.0
	indent    = 7.0
)

func (p *handoverPDF) build() {
	f, v, h := p.f, p.v, p.h
	title := fmt.Sprintf("%s %d", v.Title, h.ExportID)
	f.SetTitle(title, false)
	f.SetSubject(v.NumberLabel+" "+fmt.Sprint(h.ExportID), false)
	f.SetAuthor(p.tr(h.Provider), false)
	f.SetCreator("cadang", false)
	f.SetCreationDate(h.Downloaded)
	f.SetModificationDate(h.Downloaded)
	f.SetCompression(false)
	f.SetMargins(pdfMargin, pdfMargin, pdfMargin)
	f.SetAutoPageBreak(true, 20)
	f.AliasNbPages("{nb}")
	f.SetFooterFunc(func() {
		f.SetY(-14)
		f.SetFont("Helvetica", "", 7.5)
		f.SetTextColor(90, 90, 90)
		left := fmt.Sprintf("%s · %s %d · %s", v.Title, v.NumberLabel, h.ExportID, v.Generated)
		f.CellFormat(pdfWidth*0.8, 4, p.tr(left), "T", 0, "L", false, 0, "")
		f.CellFormat(pdfWidth*0.2, 4, fmt.Sprintf("%d / {nb}", f.PageNo()), "T", 0, "R", false, 0, "")
		f.SetTextColor(0, 0, 0)
	})
	f.AddPage()

	if h.Provider != "" { // letterhead
		f.SetFont("Helvetica", "B", 13)
		f.MultiCell(pdfWidth, 6, p.tr(strings.ToUpper(h.Provider)), "", "C", false)
		y := f.GetY() + 1.5
		f.SetLineWidth(0.6)
		f.Line(pdfMargin, y, pdfMargin+pdfWidth, y)
		f.SetLineWidth(0.2)
		f.Line(pdfMargin, y+0.9, pdfMargin+pdfWidth, y+0.9)
		f.SetY(y + 5)
	}
	f.SetFont("Helvetica", "BU", 12.5)
	f.CellFormat(pdfWidth, 6, p.tr(v.Title), "", 1, "C", false, 0, "")
	f.SetFont("Helvetica", "", 10)
	f.CellFormat(pdfWidth, 5, p.tr(fmt.Sprintf("%s: %d", v.NumberLabel, h.ExportID)), "", 1, "C", false, 0, "")
	f.Ln(4)

	p.paragraph(h.opening(v))
	for i, s := range h.parties(v) {
		p.item([]string{"I.", "II."}[i], s)
	}
	f.Ln(2)
	p.paragraph(v.Agreed)
	approvals := h.approvalRows(v)
	for i, c := range h.clauses(v) {
		p.item(fmt.Sprintf("%d.", i+1), c)
		switch {
		case i == 0:
			p.caption(v.FactsCaption)
			rows := [][]string{}
			for _, fc := range h.facts(v) {
				rows = append(rows, []string{fc.Label, fc.Value})
			}
			p.table([]float64{48, pdfWidth - indent - 48}, nil, rows)
		case i == 1 && len(approvals) > 0:
			p.caption(v.ApprovalsCaption)
			p.table([]float64{9, 40, 40, 36, pdfWidth - indent - 125},
				[]string{v.ColNo, v.ColName, v.ColRole, v.ColTime, v.ColComment}, approvals)
		}
		f.Ln(1)
	}
	f.Ln(1)
	p.paragraph(v.Closing)
	p.signatures()
}

func (p *handoverPDF) paragraph(s string) {
	p.f.SetFont("Helvetica", "", 10)
	p.f.MultiCell(pdfWidth, lineH, p.tr(s), "", "J", false)
	p.f.Ln(1)
}

// item writes a paragraph after its number (or letter), with a hanging indent.
func (p *handoverPDF) item(n, s string) {
	f := p.f
	f.SetFont("Helvetica", "", 10)
	f.CellFormat(indent, lineH, n, "", 0, "L", false, 0, "")
	f.MultiCell(pdfWidth-indent, lineH, p.tr(s), "", "J", false)
}

func (p *handoverPDF) caption(s string) {
	f := p.f
	f.Ln(1)
	f.SetX(pdfMargin + indent)
	f.SetFont("Helvetica", "B", 9.5)
	f.CellFormat(pdfWidth-indent, 5, p.tr(s), "", 1, "L", false, 0, "")
}

// table draws rows with wrapped cells, indented under a clause; a header, when
// given, is repeated on each new page. Cells are split at their newlines and at
// their width, long words (keys, digests) included.
func (p *handoverPDF) table(widths []float64, header []string, rows [][]string) {
	f := p.f
	const pad, lh = 1.2, 4.0
	x0 := pdfMargin + indent
	split := func(text string, w float64) []string {
		var out []string
		for _, part := range strings.Split(p.tr(text), "\n") {
			out = append(out, p.wrap(part, w-2*pad)...)
		}
		return out
	}
	var drawRow func(cells []string, head bool)
	drawRow = func(cells []string, head bool) {
		style := ""
		if head {
			style = "B"
		}
		f.SetFont("Helvetica", style, 8.5)
		lines := make([][]string, len(cells))
		n := 1
		for i, c := range cells {
			if !head && i == 0 && len(widths) == 2 {
				f.SetFont("Helvetica", "B", 8.5) // the label of a fact
			}
			lines[i] = split(c, widths[i])
			n = max(n, len(lines[i]))
			f.SetFont("Helvetica", style, 8.5)
		}
		rowH := float64(n)*lh + 2*pad
		_, pageH := f.GetPageSize()
		_, _, _, bottom := f.GetMargins()
		if f.GetY()+rowH > pageH-bottom {
			f.AddPage()
			if header != nil && !head {
				drawRow(header, true)
			}
		}
		x, y := x0, f.GetY()
		for i, ls := range lines {
			fill := head || (len(widths) == 2 && i == 0)
			if fill {
				f.SetFillColor(232, 232, 232)
				f.Rect(x, y, widths[i], rowH, "FD")
			} else {
				f.Rect(x, y, widths[i], rowH, "D")
			}
			if fill {
				f.SetFont("Helvetica", "B", 8.5)
			} else {
				f.SetFont("Helvetica", "", 8.5)
			}
			for j, l := range ls {
				f.SetXY(x+pad, y+pad+float64(j)*lh)
				f.CellFormat(widths[i]-2*pad, lh, l, "", 0, "L", false, 0, "")
			}
			x += widths[i]
		}
		f.SetXY(pdfMargin, y+rowH)
	}
	if header != nil {
		drawRow(header, true)
	}
	for _, r := range rows {
		drawRow(r, false)
	}
}

// wrap splits s (already translated) into lines of at most w mm in the current font,
// at spaces where it can and inside a word too long for a line (a key, a digest).
func (p *handoverPDF) wrap(s string, w float64) []string {
	f := p.f
	var out []string
	line := ""
	for _, word := range strings.Fields(s) {
		cand := word
		if line != "" {
			cand = line + " " + word
		}
		if f.GetStringWidth(cand) <= w {
			line = cand
			continue
		}
		if line != "" {
			out = append(out, line)
			line = ""
		}
		for f.GetStringWidth(word) > w { // break a long word
			i := 1
			for i < len(word) && f.GetStringWidth(word[:i+1]) <= w {
				i++
			}
			out = append(out, word[:i])
			word = word[i:]
		}
		line = word
	}
	if line != "" || len(out) == 0 {
		out = append(out, line)
	}
	return out
}

func (p *handoverPDF) signatures() {
	f, v, h := p.f, p.v, p.h
	_, pageH := f.GetPageSize()
	_, _, _, bottom := f.GetMargins()
	if f.GetY()+56 > pageH-bottom {
		f.AddPage()
	}
	f.SetFont("Helvetica", "", 10)
	f.CellFormat(pdfWidth, 6, p.tr(v.date(h.Downloaded)), "", 1, "R", false, 0, "")
	col := pdfWidth / 2
	y := f.GetY() + 2
	for i, s := range h.signers(v) {
		x := pdfMargin + float64(i)*col
		f.SetXY(x, y)
		f.SetFont("Helvetica", "B", 10)
		f.CellFormat(col, 5, p.tr(s.Party+","), "", 2, "C", false, 0, "")
		f.SetFont("Helvetica", "", 9.5)
		for _, l := range strings.Split(s.Role, "\n") {
			f.SetX(x)
			f.MultiCell(col, 4.5, p.tr(l), "", "C", false)
		}
		f.SetXY(x, y+38)
		if s.Name == blankName {
			f.SetFont("Helvetica", "", 10)
		} else {
			f.SetFont("Helvetica", "BU", 10)
		}
		f.CellFormat(col, 5, p.tr(s.Name), "", 2, "C", false, 0, "")
	}
}
