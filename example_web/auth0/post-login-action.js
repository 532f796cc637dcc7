/**
 * Auth0 Post-Login Action: put the user's roles into the access token.
 *
 * Paste this file into the Auth0 dashboard (Actions → Library → Create Action →
 * "Login / Post Login"), deploy it, and drag it into the Login flow. It runs after
 * every successful login and every refresh-token exchange, just before Auth0 issues
 * tokens. The local tenant in ../tenant/ runs this very file the same way, so what
 * you test locally is what you deploy.
 *
 * Why the roles go on the ACCESS token: the access token is what the browser's
 * server (the Next.js route handler) sends to the API as `Authorization: Bearer`
 * (RFC 6750). The API reads roles from it and nothing else. Roles only on the ID
 * token would be invisible to the API, which would then refuse every call with 403.
 *
 * Why the claim name is a URL ("namespaced"): a JWT's claim names share one space
 * with the registered claims (`iss`, `sub`, `aud`, `exp`, ... RFC 7519 §4.1), the
 * OpenID Connect claims (`name`, `email`, ... OIDC Core §5.1) and whatever those
 * standards add later. RFC 7519 §4.2 asks for "collision-resistant" names for your
 * own claims, and a URL on a domain you control is the usual way to get one. Auth0
 * also ignores custom claims whose names it reserves (`scope`, `permissions`, `gty`,
 * ...) or that sit under its own domains. The URL does not need to resolve: nothing
 * ever fetches it.
 *
 * The API must be configured with the same name: claimguard's
 * CLAIMGUARD_ROLES_CLAIM=https://my-app.example.com/roles
 *
 * Roles come from Auth0's RBAC (User Management → Roles); `event.authorization` is
 * absent when no role system is available, hence the fallback to an empty list. A
 * user without roles still gets the claim (an empty list): the API then answers 403
 * ("insufficient_scope", RFC 6750 §3.1) rather than wondering whether the Action ran.
 */

const NAMESPACE = "https://my-app.example.com";

/**
 * @param {Event} event - Details about the user and the context in which they are logging in.
 * @param {PostLoginAPI} api - Interface whose methods can be used to change the behavior of the login.
 */
exports.onExecutePostLogin = async (event, api) => {
  const roles = (event.authorization && event.authorization.roles) || [];

  // What the API authorizes with.
  api.accessToken.setCustomClaim(`${NAMESPACE}/roles`, roles);

  // Optional: the same roles in the ID token, which stays with the web app (the
  // Next.js session). The page uses it only to SHOW the roles; every decision is
  // the API's, made from the access token above.
  api.idToken.setCustomClaim(`${NAMESPACE}/roles`, roles);
};
