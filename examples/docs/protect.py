from claimguard import ClaimGuard
from claimguard import current_token
from claimguard import requires_role
from flask import Flask

app = Flask(__name__)
app.config["CLAIMGUARD_DOMAIN"] = "my-tenant.us.auth0.com"  # your Auth0 tenant
app.config["CLAIMGUARD_AUDIENCE"] = "https://products.example.com"  # your API's identifier
app.config["CLAIMGUARD_ROLES_CLAIM"] = "https://my-app.example.com/roles"
ClaimGuard(app)


@app.delete("/products/<int:product_id>")
@requires_role("admin")
def delete_product(product_id: int) -> dict[str, object]:
    return {"deleted": product_id, "by": current_token.subject}
