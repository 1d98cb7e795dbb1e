from domain.catalog.product import Product, ProductDiscontinued, ProductStatus, product_id_for

__all__ = ["Product", "ProductDiscontinued", "ProductStatus", "product_id_for"]
