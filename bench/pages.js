// What the bench pages render, the same for every site variant (BENCH_PAGE picks one). `shop` is a bare 8.4 kB
// listing, where the embed's bytes weigh most; `listing` is a product listing as a shop renders it (head with
// meta tags, filters, 24 product cards, pagination, footer), 58 kB.

const navigation = ['New', 'Women', 'Men', 'Kids', 'Home', 'Sale', 'Gift cards'].map((label) => ({
  label,
  href: `/c/${label.toLowerCase().replace(/ /g, '-')}`,
}));

const shopProducts = Array.from({ length: 24 }, (_, i) => ({
  slug: `product-${i + 1}`,
  name: `Product ${i + 1}`,
  description: 'A well-made everyday item in three colours, delivered in two to four working days.',
  price: `€${(19.9 + i * 3).toFixed(2)}`,
}));

/** The locals of `views/shop.ejs`. */
const shopLocals = { title: 'New arrivals', navigation, products: shopProducts };

const colours = [
  { slug: 'black', name: 'Black', hex: '#1b1b1b' },
  { slug: 'navy', name: 'Navy', hex: '#1f2a44' },
  { slug: 'oat', name: 'Oat', hex: '#d9ccb4' },
  { slug: 'sage', name: 'Sage', hex: '#9caf88' },
  { slug: 'rust', name: 'Rust', hex: '#a4532f' },
];
const brands = ['Northwind', 'Fieldhouse', 'Alder & Co', 'Mistral', 'Kettle Bay', 'Oakline'];
const kinds = ['Linen shirt', 'Merino jumper', 'Canvas tote', 'Wool scarf', 'Denim jacket', 'Cotton tee'];
const badges = [undefined, 'New', undefined, 'Sale', undefined, undefined];

const products = Array.from({ length: 24 }, (_, i) => {
  const price = 24.9 + i * 4;
  const onSale = badges[i % badges.length] === 'Sale';
  return {
    id: `SKU-${10_400 + i}`,
    slug: `${kinds[i % kinds.length].toLowerCase().replace(/ /g, '-')}-${i + 1}`,
    name: `${kinds[i % kinds.length]} ${i + 1}`,
    brand: brands[i % brands.length],
    description:
      'Made to last from responsibly sourced fibres; true to size. Delivered in two to four working days.',
    priceValue: price.toFixed(2),
    price: `€${price.toFixed(2)}`,
    oldPrice: onSale ? `€${(price * 1.25).toFixed(2)}` : undefined,
    badge: badges[i % badges.length],
    rating: (3.5 + (i % 4) * 0.4).toFixed(1),
    reviews: 12 + i * 7,
    colours: colours.slice(0, 2 + (i % 4)),
  };
});

const facet = (slug, name, labels) => ({
  slug,
  name,
  options: labels.map((label, i) => ({
    value: label.toLowerCase().replace(/[^a-z0-9]+/g, '-'),
    label,
    count: 40 - i * 3,
    checked: false,
  })),
});

const footerColumn = (title, labels) => ({
  title,
  links: labels.map((label) => ({ label, href: `/${label.toLowerCase().replace(/[^a-z0-9]+/g, '-')}` })),
});

const shop = { name: 'Example Shop', origin: 'https://shop.example' };
const category = {
  name: 'New arrivals',
  slug: 'new',
  href: '/c/new',
  description: 'This week’s new clothing, knitwear and accessories, chosen by our buyers.',
};
const breadcrumbs = [
  { name: 'Home', href: '/' },
  { name: category.name, href: category.href },
];

/** The locals of `views/listing.ejs`, less what varies per request (user, nonce). */
const listingLocals = {
  shop,
  category,
  navigation,
  breadcrumbs,
  breadcrumbJson: JSON.stringify({
    '@context': 'https://schema.org',
    '@type': 'BreadcrumbList',
    itemListElement: breadcrumbs.map((crumb, i) => ({
      '@type': 'ListItem',
      position: i + 1,
      name: crumb.name,
      item: `${shop.origin}${crumb.href}`,
    })),
  }).replace(/</g, '\\u003c'),
  facets: [
    facet('category', 'Category', [
      'Shirts',
      'Knitwear',
      'Jackets',
      'T-shirts',
      'Bags',
      'Scarves',
      'Trousers',
    ]),
    facet('size', 'Size', ['XS', 'S', 'M', 'L', 'XL', 'XXL']),
    facet(
      'colour',
      'Colour',
      colours.map((colour) => colour.name),
    ),
    facet('brand', 'Brand', brands),
  ],
  sortOptions: [
    { value: 'featured', label: 'Featured' },
    { value: 'newest', label: 'Newest' },
    { value: 'price-asc', label: 'Price, low to high' },
    { value: 'price-desc', label: 'Price, high to low' },
    { value: 'rating', label: 'Best rated' },
  ],
  sort: 'featured',
  total: 212,
  products,
  pages: Array.from({ length: 9 }, (_, i) => ({ number: i + 1, current: i === 0 })),
  cartCount: 2,
  csrfToken: 'f3Jq9sVbXk2LwQ7tZc1HnR8yPm4dGa6E',
  footer: [
    footerColumn('Shop', ['Women', 'Men', 'Kids', 'Home', 'Gift cards', 'Sale']),
    footerColumn('Help', ['Delivery', 'Returns', 'Size guide', 'Track an order', 'Contact us', 'FAQ']),
    footerColumn('About', ['Our story', 'Materials', 'Sustainability', 'Stores', 'Careers', 'Press']),
    footerColumn('Follow', ['Newsletter', 'Instagram', 'Pinterest', 'Journal']),
  ],
};

/** Each page's view and locals; `user` is added per request. */
const pages = {
  shop: { view: 'shop', locals: shopLocals },
  listing: { view: 'listing', locals: listingLocals },
};

/** The page called `name` (BENCH_PAGE); throws for any other name. */
export function pageNamed(name) {
  if (!Object.hasOwn(pages, name)) {
    throw new Error(`BENCH_PAGE must be one of ${Object.keys(pages).join(', ')}, not ${name}`);
  }
  return pages[name];
}
