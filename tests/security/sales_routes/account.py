"""Declared permissions of the sales routes: the account 360 page's Sales tab."""

ROUTES: dict[str, str] = {
    "sales:account-sales": "opportunity.view",
}
