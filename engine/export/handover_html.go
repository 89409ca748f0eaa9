package export

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"
)

// html renders the report as one self-contained page, in the look of the drill
// report (runbooks): letterhead, title and number, the opening and its parties, the
// numbered body with the table of facts and the approvals, the closing clause and
// the signature blocks of both parties.
func (h Handover) html(v *vocab) ([]byte, error) {
	var buf bytes.Buffer
	err := handoverHTML.Execute(&buf, struct {
		H         Handover
		V         *vocab
		Opening   string
		Parties   []string
		Clauses   []string
		Facts     []fact
		Signers   []signer
		Approvals [][]string
		Date      string
	}{h, v, h.opening(v), h.parties(v), h.clauses(v), h.facts(v), h.signers(v), h.approvalRows(v), v.date(h.Downloaded)})
	if err != nil {
		return nil, fmt.Errorf("export: handover: html: %w", err)
	}
	return buf.Bytes(), nil
}

// approvalRows are the rows of the approvals table.
func (h Handover) approvalRows(v *vocab) [][]string {
	rows := make([][]string, len(h.Approvers))
	for i, a := range h.Approvers {
		comment := a.Comment
		if comment == "" {
			comment = "-"
		}
		role := a.Role
		if role == "" {
			role = "-"
		}
		rows[i] = []string{fmt.Sprint(i + 1), a.Name, role, v.dateTime(a.Time), comment}
	}
	return rows
}

var handoverHTML = template.Must(template.New("handover").Funcs(template.FuncMap{
	"inc":   func(i int) int { return i + 1 },
	"lines": func(s string) []string { return strings.Split(s, "\n") },
	"blank": func(s string) bool { return s == blankName },
}).Parse(`<!DOCTYPE html>
<html lang="{{.V.Code}}">
<head>
<meta charset="utf-8">
<title>{{.V.Title}} {{.H.ExportID}}</title>
<style>
body{font-family:"DejaVu Sans",Arial,sans-serif;font-size:10.5pt;color:#111;max-width:210mm;margin:0 auto;padding:12mm}
header{text-align:center;border-bottom:3px double #111;padding-bottom:6px;margin-bottom:10px}
header .office{font-size:13pt;font-weight:bold;text-transform:uppercase}
h1{text-align:center;font-size:13pt;margin:14px 0 2px;text-decoration:underline}
.number{text-align:center;margin:0 0 12px}
p,li{text-align:justify}
.caption{font-weight:bold;margin:10px 0 4px}
table{border-collapse:collapse;width:100%;margin:4px 0}
th,td{border:1px solid #555;padding:3px 5px;vertical-align:top;text-align:left}
th{background:#e8e8e8}
table.facts th{width:32%}
td.num{text-align:right;white-space:nowrap}
td.mono{font-family:"DejaVu Sans Mono",monospace;font-size:9pt;word-break:break-all}
.signatures{display:flex;justify-content:space-between;margin-top:18px}
.signatures div.signer{width:45%;text-align:center}
.signatures .space{height:60px}
.signatures .name{font-weight:bold;text-decoration:underline}
.signatures .name.blank{font-weight:normal;text-decoration:none}
footer{margin-top:20px;font-size:8.5pt;color:#555;border-top:1px solid #aaa;padding-top:4px}
</style>
</head>
<body>
{{- if .H.Provider}}
<header><div class="office">{{.H.Provider}}</div></header>
{{- end}}
<h1>{{.V.Title}}</h1>
<p class="number">{{.V.NumberLabel}}: {{.H.ExportID}}</p>
<p class="opening">{{.Opening}}</p>
<ol class="parties" type="I">{{range .Parties}}<li>{{.}}</li>{{end}}</ol>
<p class="agreed">{{.V.Agreed}}</p>
<ol class="clauses">
{{- range $i, $c := .Clauses}}
<li>{{$c}}
{{- if eq $i 0}}
<div class="caption">{{$.V.FactsCaption}}</div>
<table class="facts">
{{- range $.Facts}}
<tr><th>{{.Label}}</th><td{{if or (eq .Label $.V.FactSHA256) (eq .Label $.V.FactRecipient)}} class="mono"{{end}}>{{range $j, $l := lines .Value}}{{if $j}}<br>{{end}}{{$l}}{{end}}</td></tr>
{{- end}}
</table>
{{- end}}
{{- if and (eq $i 1) $.Approvals}}
<div class="caption">{{$.V.ApprovalsCaption}}</div>
<table class="approvals">
<tr><th>{{$.V.ColNo}}</th><th>{{$.V.ColName}}</th><th>{{$.V.ColRole}}</th><th>{{$.V.ColTime}}</th><th>{{$.V.ColComment}}</th></tr>
{{- range $.Approvals}}
<tr class="approval"><td class="num">{{index . 0}}</td><td>{{index . 1}}</td><td>{{index . 2}}</td><td>{{index . 3}}</td><td>{{index . 4}}</td></tr>
{{- end}}
</table>
{{- end}}
</li>
{{- end}}
</ol>
<p class="closing">{{.V.Closing}}</p>
<p class="date" style="text-align:right">{{.Date}}</p>
<div class="signatures">
{{- range .Signers}}
<div class="signer"><div>{{.Party}},</div>{{range lines .Role}}<div>{{.}}</div>{{end}}<div class="space"></div><div class="name{{if blank .Name}} blank{{end}}">{{.Name}}</div></div>
{{- end}}
</div>
<footer>{{.V.Generated}} · {{.V.NumberLabel}} {{.H.ExportID}} · SHA-256 {{.H.SHA256}}</footer>
</body>
</html>
`))
