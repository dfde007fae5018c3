import { clean, lookup, normalise, slug } from './merchant';

describe('normalise', () => {
  it.each([
    ['CRD 1234 TESCO STORES 2341 LONDON GB', 'Tesco', 'tesco'],
    ['CARD PAYMENT TO PRET A MANGER ON 12 MAR', 'Pret A Manger', 'pret'],
    ['VIS 12MAR24 KWIK FIT 0345 MANCHESTER', 'Kwik Fit', 'kwik-fit'],
    ['AMZN MKTP UK*2K4F9 AMAZON.CO.UK', 'Amazon', 'amazon'],
    ['PAYPAL *NETFLIX.COM 4029357733', 'Netflix', 'netflix'],
    ['UBER *TRIP HELP.UBER.COM', 'Uber', 'uber'],
    ['UBER * EATS PENDING', 'Uber Eats', 'uber-eats'],
    ["SAINSBURY'S S/MKTS LEEDS", "Sainsbury's", 'sainsburys'],
    ['TESCO PFS 2741 BASINGSTOKE', 'Tesco Petrol', 'tesco-fuel'],
    ['DECATHLON UK SURREY QUAYS', 'Decathlon', 'decathlon'],
  ])('%s → %s', (description, name, key) => {
    expect(normalise(description)).toMatchObject({ name, key });
  });

  it.each([
    ['SQ *BEAN THERE COFFEE CO', 'Bean There Coffee', 'bean-there-coffee'],
    ['SUMUP *ISTANBUL KEBAB HOUSE', 'Istanbul Kebab House', 'istanbul-kebab-house'],
    ['ZETTLE_*OLD MILL CAFE', 'Old Mill Cafe', 'old-mill-cafe'],
    ['BELLS BUTCHERS LTD HEXHAM', 'Bells Butchers', 'bells-butchers'],
    ['FPO MR A PATEL REF FLAT 3 RENT', 'Mr A Patel', 'mr-a-patel'],
    ['ACME LTD SALARY', 'Acme', 'acme'],
    ['UNIVERSITY OF LEEDS', 'University Of Leeds', 'university-of-leeds'],
    ['CARD 4417 12/03/24 14:32 BOBS DINER 00123 GB', 'Bobs Diner', 'bobs-diner'],
  ])('strips noise from unknown merchants: %s → %s', (description, name, key) => {
    expect(normalise(description)).toMatchObject({ name, key });
    expect(normalise(description).entry).toBeUndefined();
  });

  it("uses TrueLayer's merchant_name when the dictionary does not know it", () => {
    expect(normalise('XQ*7781 SOMETHING', 'Little Shop of Joy')).toEqual({ name: 'Little Shop of Joy', key: 'little-shop-of-joy' });
    expect(normalise('anything', 'Tesco')).toMatchObject({ key: 'tesco' });
  });

  it('keys are stable across noise variants of one merchant', () => {
    const keys = ['COSTA COFFEE 43011 READING', 'CRD 9921 COSTA COFFEE 12MAR', 'SQ *COSTA', 'COSTA COFFEE LTD LONDON GB'].map((d) => normalise(d).key);
    expect(new Set(keys)).toEqual(new Set(['costa']));
  });

  it('answers a text the same after many others, and hands out answers no caller can change', () => {
    const first = normalise('CRD 1234 TESCO STORES 2341 LONDON GB');
    const tesco = lookup('Tesco Stores');
    expect(tesco?.entry.key).toBe('tesco');
    // more distinct texts than the lookups kept: the first ones are looked up again, with the same answers
    for (let i = 0; i < 12_000; i += 1) expect(lookup(`UNKNOWN SHOP ${i}`)).toBeUndefined();
    expect(normalise('CRD 1234 TESCO STORES 2341 LONDON GB')).toEqual(first);
    expect(lookup('tesco   stores')).toEqual(tesco);
    expect(Object.isFrozen(lookup('Tesco Stores'))).toBe(true);
    expect(() => {
      (lookup('Tesco Stores') as { matched: string }).matched = 'ALDI';
    }).toThrow(TypeError);
    expect(lookup('TESCO STORES')?.matched).toBe(tesco?.matched);
  });

  it('clean and slug', () => {
    expect(clean('LIDL GB LONDON')).toBe('LIDL');
    expect(clean('CARREFOUR MARKET PARIS FR 23.40 EUR')).toBe('CARREFOUR MARKET');
    expect(slug("Marks & Spencer's")).toBe('marks-and-spencers');
  });
});
