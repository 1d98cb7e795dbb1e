from domain.catalog.listing import Listing
from domain.catalog.product import Product, ProductDiscontinued, ProductStatus, product_id_for

__all__ = ["Listing", "Product", "ProductDiscontinued", "ProductStatus", "product_id_for"]
