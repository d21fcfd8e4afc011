package dev.spillway.statuspage;

import dev.spillway.runtime.api.ApiRequest;
import dev.spillway.runtime.api.ApiResponse;

/**
 * The sign-in form: one labelled password field for the collector's token, and a CSRF token bound to a cookie of
 * the form's own, so a page on another site cannot post it.
 */
final class LoginForm {

    private LoginForm() {
    }

    /** The form with a fresh CSRF token (and the cookie that holds it), {@code error} above it if not null. */
    static ApiResponse render(ApiRequest r, int status, String next, String error) {
        final String[] csrf = PageAuth.loginForm(r);
        return html(status, next, error, csrf[0]).withHeader("Set-Cookie", csrf[1]);
    }

    private static ApiResponse html(int status, String next, String error, String csrf) {
        final StringBuilder h = new StringBuilder(2_048);
        h.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
            .append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
            .append("<meta name=\"color-scheme\" content=\"light dark\">\n<title>Sign in \u2013 Spillway</title>\n")
            .append("<link rel=\"stylesheet\" href=\"/assets/status.css\">\n</head>\n<body>\n")
            .append("<main id=\"main\" class=\"login\">\n<h1>Spillway status</h1>\n")
            .append("<form method=\"post\" action=\"/login\">\n");
        if (error != null) {
            h.append("<p class=\"error\" role=\"alert\" id=\"login-error\">").append(Html.esc(error)).append("</p>\n");
        }
        h.append("<label for=\"token\">API token</label>\n")
            .append("<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required"
                + " autofocus")
            .append(error != null ? " aria-describedby=\"login-error\" aria-invalid=\"true\"" : "").append(">\n")
            .append("<input type=\"hidden\" name=\"next\" value=\"").append(Html.esc(next)).append("\">\n")
            .append("<input type=\"hidden\" name=\"csrf\" value=\"").append(Html.esc(csrf)).append("\">\n")
            .append("<button type=\"submit\">Sign in</button>\n")
            .append("<p class=\"hint\">The token the collector was started with (<code>--token</code>). Signing in"
                + " starts a session kept by the collector; its cookie opens this page only, and only on this site."
                + "</p>\n</form>\n</main>\n</body>\n</html>\n");
        return PageResponses.html(status, h.toString());
    }
}
