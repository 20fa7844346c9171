// Command x-oauth2 drives golang.org/x/oauth2 (Debian golang-golang-x-oauth2-dev) against the
// gateway for test/interop/x-oauth2.test.ts: it reads the endpoints and credentials from the
// environment and prints one JSON object of what each step observed.
//
// x/oauth2 form-encodes Basic credentials (url.QueryEscape, RFC 6749 §2.3.1) and, for a client
// without a secret, sends Basic with an empty password (AuthStyleInHeader) or client_id alone
// (AuthStyleInParams). It has no discovery, revocation or introspection API.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"golang.org/x/oauth2"
)

type identity struct {
	Status   int    `json:"status"`
	Subject  string `json:"subject"`
	ClientID string `json:"client_id"`
}

func onProxy(client *http.Client) identity {
	resp, err := client.Get(os.Getenv("RESOURCE_URL"))
	if err != nil {
		return identity{Status: -1, Subject: err.Error()}
	}
	defer resp.Body.Close()
	var echo struct {
		Headers map[string]string `json:"headers"`
	}
	if resp.StatusCode == 200 {
		_ = json.NewDecoder(resp.Body).Decode(&echo)
	}
	return identity{Status: resp.StatusCode, Subject: echo.Headers["x-auth-subject"], ClientID: echo.Headers["x-auth-client-id"]}
}

func config(id, secret string, style oauth2.AuthStyle) *oauth2.Config {
	return &oauth2.Config{ClientID: id, ClientSecret: secret, Scopes: []string{"read"}, Endpoint: oauth2.Endpoint{TokenURL: os.Getenv("TOKEN_URL"), AuthStyle: style}}
}

func flow(id, secret string, style oauth2.AuthStyle) map[string]interface{} {
	ctx := context.Background()
	conf := config(id, secret, style)
	step := map[string]interface{}{}
	tok, err := conf.PasswordCredentialsToken(ctx, os.Getenv("USERNAME"), os.Getenv("PASSWORD"))
	if err != nil {
		step["password"] = map[string]interface{}{"error": err.Error()}
		return step
	}
	step["password"] = map[string]interface{}{"token_type": tok.TokenType, "has_refresh": tok.RefreshToken != ""}
	step["resource"] = onProxy(conf.Client(ctx, tok))
	// An expired token makes the TokenSource refresh it (the refresh_token grant).
	old := tok.AccessToken
	tok.Expiry = time.Now().Add(-time.Hour)
	refreshed, err := conf.TokenSource(ctx, tok).Token()
	if err != nil {
		step["refresh"] = map[string]interface{}{"error": err.Error()}
		return step
	}
	step["refresh"] = map[string]interface{}{"new_access": refreshed.AccessToken != old}
	step["resource_after_refresh"] = onProxy(conf.Client(ctx, refreshed))
	return step
}

func main() {
	id, secret, pub := os.Getenv("CLIENT_ID"), os.Getenv("CLIENT_SECRET"), os.Getenv("PUBLIC_CLIENT_ID")
	out := map[string]interface{}{
		"header":            flow(id, secret, oauth2.AuthStyleInHeader),
		"params":            flow(id, secret, oauth2.AuthStyleInParams),
		"autodetect":        flow(id, secret, oauth2.AuthStyleAutoDetect),
		"public_header":     flow(pub, "", oauth2.AuthStyleInHeader),
		"public_params":     flow(pub, "", oauth2.AuthStyleInParams),
		"public_autodetect": flow(pub, "", oauth2.AuthStyleAutoDetect),
	}
	for name, style := range map[string]oauth2.AuthStyle{"wrong_secret_header": oauth2.AuthStyleInHeader, "wrong_secret_params": oauth2.AuthStyleInParams} {
		_, err := config(id, "wrong", style).PasswordCredentialsToken(context.Background(), os.Getenv("USERNAME"), os.Getenv("PASSWORD"))
		result := map[string]interface{}{"raised": err != nil}
		if re, ok := err.(*oauth2.RetrieveError); ok {
			var body struct {
				Error string `json:"error"`
			}
			_ = json.Unmarshal(re.Body, &body)
			result["status"] = re.Response.StatusCode
			result["error"] = body.Error
		}
		out[name] = result
	}
	enc, _ := json.Marshal(out)
	fmt.Println(string(enc))
}
