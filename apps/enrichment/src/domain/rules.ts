/**
 * Description rules: what the structure of a statement line says when no merchant family is known. Two tiers:
 *
 * - `STRUCTURAL_RULES` read the payment type (TrueLayer's transaction_category), the direction of money and a few
 *   decisive words (cash withdrawals, bank fees, interest, wages, benefits, savings and own-account transfers, rent,
 *   mortgage). They run before the merchant dictionary, because a terminal's name says nothing about a cash
 *   withdrawal at a supermarket ATM or a salary paid by a supermarket.
 * - `KEYWORD_RULES` read the kind of business from words in the name (RESTAURANT, BARBERS, DENTAL, PLUMBING ...).
 *   They run after the dictionary and generalise to merchants it has never seen.
 *
 * Each rule sees the canonical description (upper case, apostrophes dropped). Pure data.
 */
import type { PfcDetailed } from '@ais/contracts-events';

export type Direction = 'in' | 'out';

export interface RuleContext {
  /** Canonical raw description. */
  text: string;
  direction: Direction;
  /** TrueLayer's transaction_category, upper case ('' when absent). */
  type: string;
}

export interface Rule {
  id: string;
  when: (c: RuleContext) => boolean;
  category: PfcDetailed;
  confidence: number;
}

const has = (re: RegExp) => (c: RuleContext) => re.test(c.text);
const out = (re: RegExp) => (c: RuleContext) => c.direction === 'out' && re.test(c.text);
const inn = (re: RegExp) => (c: RuleContext) => c.direction === 'in' && re.test(c.text);

const TRANSFER_TYPES = ['TRANSFER', 'STANDING_ORDER', 'BILL_PAYMENT', 'CREDIT', 'DEBIT', 'OTHER', 'UNKNOWN', ''];
const OWN_ACCOUNT = /\b(?:SAVINGS?|SAVER|ISA|RESERVE|VAULT|POT|ROUND\s?UPS?|STASH|SPACE|GOAL|RAINY\s+DAY|HOLIDAY\s+FUND|EMERGENCY\s+FUND)\b/;
const BENEFITS = /\b(?:UNIVERSAL\s+CREDIT|DWP\s+UC|UC\s+DWP|JSA|JOBSEEKERS?|ESA\b|EMPLOYMENT\s+SUPPORT|DWP\s+(?:JSA|ESA))/;
const OTHER_BENEFITS = /\b(?:CHILD\s+BENEFIT|CHB|HMRC\s+CHILD|TAX\s+CREDITS?|WTC|CTC|PIP|DLA|CARERS?\s+ALLOWANCE|ATTENDANCE\s+ALLOWANCE|HOUSING\s+BENEFIT|DWP)\b/;

export const STRUCTURAL_RULES: readonly Rule[] = [
  // Card repayments seen from the card account.
  { id: 'card-repayment', when: has(/PAYMENT\s+RECEIVED\b.*THANK\s+YOU|DIRECT\s+DEBIT\s+PAYMENT\s*-?\s*THANK\s+YOU|\bPAYMENT\s+-?\s*THANK\s+YOU\b/), category: 'LOAN_PAYMENTS_CREDIT_CARD_PAYMENT', confidence: 0.9 },
  // Bank fees: named fees first, then the fee payment type.
  { id: 'fee-atm', when: out(/\b(?:ATM|CASH(?:\s+WITHDRAWAL)?|CASHPOINT)\b.*\b(?:FEE|CHARGE)\b|\bNON[-\s]?(?:STERLING|STG|GBP)\s+CASH\s+FEE\b/), category: 'BANK_FEES_ATM_FEES', confidence: 0.9 },
  { id: 'fee-foreign', when: out(/\bNON[-\s]?(?:STERLING|STG|GBP)\b.*\b(?:FEE|CHARGE|COMMISSION)\b|\b(?:FOREIGN|FX|OVERSEAS|INTERNATIONAL)\s+(?:TRANSACTION\s+|PAYMENT\s+|EXCHANGE\s+)?(?:FEE|CHARGE)S?\b|\bTRANSACTION\s+FEE\b.*\b(?:EUR|USD)\b/), category: 'BANK_FEES_FOREIGN_TRANSACTION_FEES', confidence: 0.9 },
  { id: 'fee-unpaid', when: out(/\b(?:UNPAID|RETURNED|REFER(?:RED)?)\s+(?:ITEM|DD|DIRECT\s+DEBIT|PAYMENT|CHEQUE)S?\b|\bINSUFFICIENT\s+FUNDS\b/), category: 'BANK_FEES_INSUFFICIENT_FUNDS', confidence: 0.9 },
  { id: 'fee-overdraft', when: out(/\b(?:UN)?ARRANGED\s+(?:OVERDRAFT|OD)\b|\bOVERDRAFT\b|\bO\/?D\s+(?:FEE|CHARGE|INT)/), category: 'BANK_FEES_OVERDRAFT_FEES', confidence: 0.85 },
  { id: 'interest-charged', when: (c) => c.direction === 'out' && (c.type === 'INTEREST' || /\b(?:DEBIT\s+INTEREST|INTEREST\s+(?:CHARGED?|DEBITED)|PURCHASE\s+INTEREST|CASH\s+INTEREST|INT\s+CHARGED?)\b/.test(c.text)), category: 'BANK_FEES_INTEREST_CHARGE', confidence: 0.9 },
  { id: 'fee-account', when: (c) => c.direction === 'out' && (c.type === 'FEE_CHARGE' || /\b(?:ACCOUNT|MONTHLY|ANNUAL|SERVICE|PACKAGED|MAINTENANCE|CARD\s+REPLACEMENT|LATE\s+PAYMENT|OVERLIMIT|OVER\s+LIMIT)\s+(?:ACCOUNT\s+)?(?:FEE|CHARGE)S?\b|\bBANK\s+CHARGES?\b|\bCHARGES?\s+(?:FOR|TO)\s+\d/.test(c.text)), category: 'BANK_FEES_OTHER_BANK_FEES', confidence: 0.85 },
  // Cash.
  { id: 'atm', when: (c) => c.direction === 'out' && (c.type === 'ATM' || c.type === 'CASH' || /\b(?:ATM|CASHPOINT|CASH\s+WITHDRAWAL|CASH\s+MACHINE|LINK\s+ATM|CASH\s+(?:NOTEMACHINE|NOTE\s+MACHINE))\b|^CASH\b/.test(c.text)), category: 'TRANSFER_OUT_WITHDRAWAL', confidence: 0.9 },
  { id: 'deposit', when: (c) => c.direction === 'in' && (c.type === 'CHEQUE' || /\b(?:CASH\s+DEPOSIT|CHEQUE\s+DEPOSIT|CHQ\s+(?:DEP|IN)|CHEQUE|COUNTER\s+CREDIT|PAID\s+IN\s+AT|DEPOSIT\s+AT|CASH\s+PAID\s+IN|BRANCH\s+DEPOSIT|IMAGE\s+CHEQUE)\b|^CHQ\b|\bPAYPOINT\s+DEP/.test(c.text)), category: 'TRANSFER_IN_DEPOSIT', confidence: 0.85 },
  // Money in.
  { id: 'interest-earned', when: (c) => c.direction === 'in' && (c.type === 'INTEREST' || /\b(?:INTEREST|INT)\s+(?:PAID|EARNED|CREDIT(?:ED)?)\b|\bGROSS\s+INTEREST\b|\bCREDIT\s+INTEREST\b|^INTEREST\b|\bINTEREST$/.test(c.text)), category: 'INCOME_INTEREST_EARNED', confidence: 0.9 },
  { id: 'dividend', when: (c) => c.direction === 'in' && (c.type === 'DIVIDEND' || /\bDIVIDENDS?\b|\bDIV\b/.test(c.text)), category: 'INCOME_DIVIDENDS', confidence: 0.9 },
  { id: 'tax-refund', when: inn(/\b(?:HMRC|HM\s+REVENUE|INLAND\s+REVENUE)\b.*\b(?:REFUND|REPAYMENT|REBATE|REPAY|OVERPAYMENT)\b|\bTAX\s+(?:REFUND|REBATE|REPAYMENT)\b|\bHMRC\s+(?:SA|PAYE)\s+REFUND/), category: 'INCOME_TAX_REFUND', confidence: 0.9 },
  { id: 'pension-income', when: inn(/\bSTATE\s+PENSION\b|\bDWP\s+(?:SP|STATE\s+PEN|PENSION)\b|\bPENSION(?:S)?\s+(?:PAYMENT|PAYROLL|INCOME)?\b|\bANNUITY\b|\bTEACHERS\s+PENSION\b|\bNHS\s+PENSION\b|\bCIVIL\s+SERVICE\s+PENSION\b/), category: 'INCOME_RETIREMENT_PENSION', confidence: 0.85 },
  { id: 'unemployment', when: inn(BENEFITS), category: 'INCOME_UNEMPLOYMENT', confidence: 0.85 },
  { id: 'other-benefits', when: inn(OTHER_BENEFITS), category: 'INCOME_OTHER_INCOME', confidence: 0.8 },
  { id: 'wages', when: inn(/\b(?:SALARY|SALARIES|SAL|PAYROLL|WAGES?|PAYSLIP|NET\s+PAY|MONTHLY\s+PAY|WEEKLY\s+PAY|PAYE|BONUS|EXPENSES?\s+(?:CLAIM|REIMB))\b|\bPAY\s+(?:DEC|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV)\b/), category: 'INCOME_WAGES', confidence: 0.9 },
  { id: 'gig-pay', when: inn(/\b(?:ROO|RIDER|DRIVER|COURIER|PARTNER)\s+(?:PAYMENTS?|EARNINGS|PAY)\b/), category: 'INCOME_WAGES', confidence: 0.7 },
  { id: 'payout', when: inn(/\bPAYOUTS?\b|\bSALES\s+PROCEEDS\b/), category: 'INCOME_OTHER_INCOME', confidence: 0.7 },
  { id: 'cashback', when: (c) => c.direction === 'in' && (c.type === 'CASHBACK' || /\bCASH\s?BACK\b|\bREWARDS?\b|\bTOPCASHBACK\b|\bQUIDCO\b/.test(c.text)), category: 'INCOME_OTHER_INCOME', confidence: 0.75 },
  { id: 'loan-in', when: inn(/\bLOAN\s+(?:ADVANCE|DRAWDOWN|PAYOUT|FUNDS|DISBURSEMENT)\b|\bCASH\s+ADVANCE\b|\bADVANCE\s+PAYMENT\b|\bSTUDENT\s+FINANCE\b|\bSFE\b|\bSLC\b/), category: 'TRANSFER_IN_CASH_ADVANCES_AND_LOANS', confidence: 0.8 },
  // Rent and mortgage paid by transfer, standing order or direct debit.
  { id: 'mortgage', when: out(/\bMORTGAGE\b|\bMTG\b|\bMORTG\b/), category: 'LOAN_PAYMENTS_MORTGAGE_PAYMENT', confidence: 0.85 },
  { id: 'rent', when: out(/\bRENT\b(?![\s-]*A?[\s-]*CAR)(?![\s-]+A\b)|\bRENTAL\s+PAYMENT\b|\bLETTINGS?\b|\bLETTING\s+AGENT|\bHOUSING\s+ASSOC|\bHOMES\s+(?:ENGLAND|FOR)|\bOPENRENT\b|\bFOXTONS\b|\bLANDLORD\b/), category: 'RENT_AND_UTILITIES_RENT', confidence: 0.8 },
  { id: 'council-dd', when: (c) => c.direction === 'out' && (c.type === 'DIRECT_DEBIT' || c.type === 'STANDING_ORDER') && /\b(?:COUNCIL|CNCL|BOROUGH|MBC)\b/.test(c.text) && !/\bPARKING\b|\bPCN\b/.test(c.text), category: 'GOVERNMENT_AND_NON_PROFIT_TAX_PAYMENT', confidence: 0.75 },
  { id: 'council-tax', when: out(/\bCOUNCIL\s+TAX\b|\bC\s?TAX\b|\bCTAX\b|\b(?:CITY|BOROUGH|DISTRICT|COUNTY|METROPOLITAN)?\s*(?:COUNCIL|CNCL|CC|BC|DC|MBC)\b.*\b(?:TAX|CT)\b/), category: 'GOVERNMENT_AND_NON_PROFIT_TAX_PAYMENT', confidence: 0.85 },
  // Savings and own-account transfers (payment types that move money, not card purchases).
  { id: 'savings-out', when: (c) => c.direction === 'out' && c.type !== 'PURCHASE' && c.type !== 'DIRECT_DEBIT' && OWN_ACCOUNT.test(c.text), category: 'TRANSFER_OUT_SAVINGS', confidence: 0.8 },
  { id: 'savings-in', when: (c) => c.direction === 'in' && c.type !== 'PURCHASE' && OWN_ACCOUNT.test(c.text), category: 'TRANSFER_IN_SAVINGS', confidence: 0.8 },
  { id: 'pension-contribution', when: out(/\bPENSION\s+(?:CONTRIB|CONT|PAYMENT)|\bSIPP\b|\bPERSONAL\s+PENSION\b/), category: 'TRANSFER_OUT_INVESTMENT_AND_RETIREMENT_FUNDS', confidence: 0.8 },
  { id: 'own-account-out', when: (c) => c.direction === 'out' && TRANSFER_TYPES.includes(c.type) && /\b(?:TO\s+(?:A\/C|ACCOUNT|CURRENT|MY|OWN)|OWN\s+ACCOUNT|INTERNAL\s+TRANSFER|BETWEEN\s+ACCOUNTS|TOP[-\s]?UP|TOPUP)\b|\bREVOLUT\b|\bMONZO\b|\bSTARLING\b|\bWISE\b|\bTRANSFERWISE\b|\bCURVE\b|\bPAYPAL\s+(?:TRANSFER|TOP)/.test(c.text), category: 'TRANSFER_OUT_ACCOUNT_TRANSFER', confidence: 0.75 },
  { id: 'own-account-in', when: (c) => c.direction === 'in' && TRANSFER_TYPES.includes(c.type) && /\b(?:FROM\s+(?:A\/C|ACCOUNT|CURRENT|MY|OWN)|OWN\s+ACCOUNT|INTERNAL\s+TRANSFER|BETWEEN\s+ACCOUNTS)\b|\bREVOLUT\b|\bMONZO\b|\bSTARLING\b|\bWISE\b|\bTRANSFERWISE\b|\bPAYPAL\b/.test(c.text), category: 'TRANSFER_IN_ACCOUNT_TRANSFER', confidence: 0.75 },
];

export const KEYWORD_RULES: readonly Rule[] = [
  // Food and drink.
  { id: 'coffee', when: has(/\bCOFFEE\b|\bCAFF?E\b|\bESPRESSO\b|\bROASTERS?\b|\bROASTERY\b|\bBARISTA\b|\bTEA\s?ROOMS?\b|\bTEAHOUSE\b/), category: 'FOOD_AND_DRINK_COFFEE', confidence: 0.7 },
  { id: 'fast-food', when: has(/\bKEBAB\b|\bCHIPPY\b|\bFISH\s*(?:&|AND)?\s*CHIPS?\b|\bFISH\s+BAR\b|\bCHICKEN\b|\bPERI\s*PERI\b|\bFRIED\b|\bBURGERS?\b|\bTAKE\s?AWAY\b|\bTAKEAWAY\b|\bPIZZA\b|\bPIZZERIA\b|\bBAGEL\b|\bSANDWICH\b|\bDELI\b|\bBAKERY\b|\bBAKEHOUSE\b|\bBAKERS?\b|\bFOOD\s+TRUCK\b|\bSTREET\s+FOOD\b|\bDRIVE\s?THRU\b|\bWRAPS?\b|\bSHAWARMA\b|\bFALAFEL\b|\bDONER\b/), category: 'FOOD_AND_DRINK_FAST_FOOD', confidence: 0.65 },
  { id: 'lodging', when: has(/\bHOTELS?\b|\bHOSTELS?\b|\bMOTEL\b|\bGUEST\s*HOUSE\b|\bB\s?&\s?B\b|\bBED\s+(?:AND|&)\s+BREAKFAST\b|\bLODGE\b|\bRESORT\b|\bHOLIDAY\s+(?:COTTAGES?|LETS?|PARK|INN)\b|\bCOTTAGES?\b|\bCAMPSITE\b|\bCARAVAN\s+PARK\b|\bVRBO\b|\bHOSTELWORLD\b|\bSYKES\b|\bHOSEASONS\b|\bCENTER\s+PARCS\b|\bHAVEN\b|\bBUTLINS\b|\bPARKDEAN\b/), category: 'TRAVEL_LODGING', confidence: 0.7 },
  { id: 'restaurant', when: has(/\bRESTAURANTS?\b|\bRESTAURANT\b|\bBISTRO\b|\bBRASSERIE\b|\bGRILL\b|\bKITCHEN\b|\bTRATTORIA\b|\bOSTERIA\b|\bCURRY\b|\bTANDOORI\b|\bINDIAN\b|\bSPICE\b|\bMASALA\b|\bBALTI\b|\bSUSHI\b|\bRAMEN\b|\bNOODLES?\b|\bDIM\s+SUM\b|\bTHAI\b|\bCHINESE\b|\bSTEAK\s?HOUSE\b|\bSTEAK\b|\bTAPAS\b|\bCANTINA\b|\bTAVERNA\b|\bDINER\b|\bEATERY\b|\bCARVERY\b|\bPUB\b|\bINN\b|\bARMS\b|\bTAVERN\b|\bBAR\b|\bBARS\b|\bLOUNGE\b|\bBREWERY\b|\bBREWING\b|\bBREW\s?CO\b|\bTAPROOM\b|\bTAP\s+ROOM\b|\bALEHOUSE\b|\bWINE\s+BAR\b|\bCOCKTAIL\b|\bNIGHTCLUB\b|\bCLUB\s+BAR\b|\bHEAD\b$|\bDINING\b|\bMEZE\b|\bMEXICAN\b|\bITALIAN\b|\bTURKISH\b|\bGREEK\b|\bVIETNAMESE\b|\bKOREAN\b|\bJAPANESE\b|\bLEBANESE\b|\bPERSIAN\b/), category: 'FOOD_AND_DRINK_RESTAURANT', confidence: 0.65 },
  { id: 'pub-name', when: has(/^THE\s+(?:[A-Z]+\s+){0,2}(?:LION|ARMS|HEAD|CROWN|PLOUGH|BELL|SWAN|ANCHOR|OAK|GEORGE|GREYHOUND|WHEATSHEAF|FOX|HORSES?|BULL|STAG|ROSE|STAR|SHIP|ANGEL|MITRE|WHITE\s+HART|HART|FEATHERS|GRAPES|ALBION|GLOBE|COCK|BLACK\s+BOY|RAILWAY|VOLUNTEER|RED\s+COW|LAMB|FLAG|BUTCHERS\s+ARMS|TAP|VAULTS)$/), category: 'FOOD_AND_DRINK_RESTAURANT', confidence: 0.6 },
  { id: 'liquor', when: has(/\bOFF\s?LICEN[CS]E\b|\bWINES?\b|\bSPIRITS\b|\bLIQUOR\b|\bBOOZE\b|\bBEERS?\b|\bBOTTLE\s+SHOP\b|\bWHISKY\b|\bGIN\s+(?:DISTILLERY|CO)\b|\bDISTILLERY\b/), category: 'FOOD_AND_DRINK_BEER_WINE_AND_LIQUOR', confidence: 0.65 },
  { id: 'vending', when: has(/\bVENDING\b|\bVEND\b|\bSNACK\s+MACHINE\b/), category: 'FOOD_AND_DRINK_VENDING_MACHINES', confidence: 0.7 },
  { id: 'groceries', when: has(/\bSUPERMARKETS?\b|\bGROCER(?:Y|IES|S)?\b|\bGREENGROCER\b|\bBUTCHERS?\b|\bFISHMONGER\b|\bFARM\s+SHOP\b|\bFOODS?\s+(?:STORE|MARKET|HALL)\b|\bFOOD\s+CENTRE\b|\bHALAL\b|\bORGANIC\b|\bDAIRY\b|\bMILKMAN\b|\bPATISSERIE\b|\bCHEESE\b|\bWHOLEFOODS?\b|\bASIAN\s+FOODS?\b|\bPOLSKI\b|\bMINI\s?MARKET\b/), category: 'FOOD_AND_DRINK_GROCERIES', confidence: 0.65 },
  { id: 'convenience', when: has(/\bCONVENIENCE\b|\bNEWSAGENTS?\b|\bOFF\s+LICENCE\s+(?:&|AND)\s+CONV|\bLOCAL\s+STORE\b|\bCORNER\s+SHOP\b|\b(?:EXPRESS|LOCAL)\s+STORE\b|\bSTORES\b$|\bMINI\s+MART\b|\bMINIMART\b|\b24\s?HR?\b|\bFOOD\s*(?:&|AND)\s*WINE\b/), category: 'GENERAL_MERCHANDISE_CONVENIENCE_STORES', confidence: 0.6 },
  // Transport and travel.
  { id: 'fuel', when: has(/\bPETROL\b|\bFUEL\b|\bFILLING\s+STATION\b|\bSERVICE\s+STATION\b|\bS\/STN\b|\bSERV\s+STN\b|\bPFS\b|\bFORECOURT\b|\bGARAGE\s+(?:FUEL|PETROL)\b|\bEV\s+CHARG|\bCHARGEPOINT\b|\bPOD\s+POINT\b|\bIONITY\b|\bGRIDSERVE\b|\bTESLA\s+SUPERCHARGER\b|\bOSPREY\b|\bINSTAVOLT\b/), category: 'TRANSPORTATION_GAS', confidence: 0.7 },
  { id: 'parking', when: has(/\bPARKING\b|\bCAR\s?PARK\b|\bPAY\s+(?:AND|&)\s+DISPLAY\b|\bPCN\b|\bPENALTY\s+CHARGE\b|\bPARKING\s+FINE\b/), category: 'TRANSPORTATION_PARKING', confidence: 0.7 },
  { id: 'tolls', when: has(/\bTOLLS?\b|\bCROSSING\b|\bTUNNEL\s+TOLL\b|\bBRIDGE\s+TOLL\b/), category: 'TRANSPORTATION_TOLLS', confidence: 0.7 },
  { id: 'taxi', when: has(/\bTAXIS?\b|\bCABS?\b|\bCABZ\b|\bMINICABS?\b|\bPRIVATE\s+HIRE\b|\bCHAUFFEUR\b|\bCARS\s+(?:LTD|LIMITED)\b|\bRIDE\b/), category: 'TRANSPORTATION_TAXIS_AND_RIDE_SHARES', confidence: 0.65 },
  { id: 'transit', when: has(/\bRAILWAYS?\b|\bRAIL\b|\bTRAINS?\b|\bBUS\b|\bBUSES\b|\bCOACH(?:ES)?\b|\bMETRO(?:LINK)?\b|\bTRAM(?:S|LINK)?\b|\bFERRY\b|\bFERRIES\b|\bUNDERGROUND\b|\bTICKET\s+OFFICE\b|\bSTATION\b|\bOYSTER\b|\bTRAVEL\s?CARD\b|\bBUS\s+PASS\b/), category: 'TRANSPORTATION_PUBLIC_TRANSIT', confidence: 0.65 },
  { id: 'bikes', when: has(/\bBIKE\s+HIRE\b|\bCYCLE\s+HIRE\b|\bE-?SCOOTER\b|\bSCOOTERS?\b/), category: 'TRANSPORTATION_BIKES_AND_SCOOTERS', confidence: 0.65 },
  { id: 'flights', when: has(/\bAIRWAYS\b|\bAIRLINES?\b|\bAIR\s+(?:LINES|FRANCE|LINGUS|CANADA|INDIA)\b|\bFLIGHTS?\b|\bAVIATION\b|\bLUFTHANSA\b|\bKLM\b|\bEMIRATES\b|\bQATAR\s+AIR|\bAER\s+LINGUS\b|\bVUELING\b|\bFLYBE\b/), category: 'TRAVEL_FLIGHTS', confidence: 0.75 },
  { id: 'car-hire', when: has(/\bCAR\s+(?:HIRE|RENTAL)\b|\bRENT\s*-?\s*A\s*-?\s*CAR\b|\bVAN\s+HIRE\b/), category: 'TRAVEL_RENTAL_CARS', confidence: 0.75 },
  { id: 'travel-other', when: has(/\bTRAVEL\s+(?:AGENT|INSURANCE)?\b|\bHOLIDAYS?\b|\bTOURS?\b|\bCRUISES?\b|\bAIRPORT\b|\bDUTY\s+FREE\b|\bWORLD\s+DUTY\s+FREE\b|\bLOUNGE\s+PASS\b|\bSKYSCANNER\b|\bLASTMINUTE\b|\bON\s+THE\s+BEACH\b|\bLOVEHOLIDAYS\b|\bJET2HOLIDAYS\b|\bTRIP\.COM\b/), category: 'TRAVEL_OTHER_TRAVEL', confidence: 0.6 },
  // Utilities and bills.
  { id: 'energy', when: has(/\bENERGY\b|\bELECTRIC(?:ITY)?\b|\bPOWER\b|\bGAS\s+(?:SUPPLY|BILL|SERVICES)\b|\bUTILITIES\b/), category: 'RENT_AND_UTILITIES_GAS_AND_ELECTRICITY', confidence: 0.7 },
  { id: 'water', when: has(/\bWATER\b(?!\s*(?:STONES|SIDE|FRONT|LOO))/), category: 'RENT_AND_UTILITIES_WATER', confidence: 0.7 },
  { id: 'waste', when: has(/\bWASTE\b|\bRUBBISH\b|\bSKIP\s+HIRE\b|\bBIN\s+COLLECTION\b|\bGARDEN\s+WASTE\b|\bSEWERAGE\b|\bSEPTIC\b/), category: 'RENT_AND_UTILITIES_SEWAGE_AND_WASTE_MANAGEMENT', confidence: 0.7 },
  { id: 'broadband', when: has(/\bBROADBAND\b|\bFIBRE\b|\bINTERNET\b|\bWIFI\b|\bCABLE\b/), category: 'RENT_AND_UTILITIES_INTERNET_AND_CABLE', confidence: 0.7 },
  { id: 'phone', when: has(/\bMOBILE\b|\bTELECOMS?\b|\bTELEPHONE\b|\bSIM\s+ONLY\b|\bAIRTIME\b|\bPHONE\s+BILL\b/), category: 'RENT_AND_UTILITIES_TELEPHONE', confidence: 0.65 },
  // Government and charity.
  { id: 'government', when: has(/\bCOUNCIL\b|\bCNCL\b|\bBOROUGH\b|\bMBC\b|\bGOV\b|\bGOVERNMENT\b|\bHM\s+|\bPOLICE\b|\bCOURTS?\s+(?:SERVICE|FINE)\b|\bMAGISTRATES\b|\bLICENSING\b|\bPASSPORT\b|\bVISA\s+APPLICATION\b/), category: 'GOVERNMENT_AND_NON_PROFIT_GOVERNMENT_DEPARTMENTS_AND_AGENCIES', confidence: 0.65 },
  { id: 'donation', when: has(/\bCHARITY\b|\bCHARITABLE\b|\bDONATION\b|\bDONATE\b|\bFOUNDATION\b|\bHOSPICE\b|\bTRUST\s+FUND\b|\bAPPEAL\b|\bSPONSOR(?:SHIP)?\b|\bTITHE\b|\bCHURCH\b|\bMOSQUE\b|\bTEMPLE\b|\bGURDWARA\b|\bSYNAGOGUE\b|\bPARISH\b/), category: 'GOVERNMENT_AND_NON_PROFIT_DONATIONS', confidence: 0.7 },
  // Medical and personal care.
  { id: 'dental', when: has(/\bDENTAL\b|\bDENTISTS?\b|\bDENTISTRY\b|\bORTHODONT|\bSMILE\s+CLINIC\b|\bINVISALIGN\b/), category: 'MEDICAL_DENTAL_CARE', confidence: 0.8 },
  { id: 'eye-care', when: has(/\bOPTICIANS?\b|\bOPTOMETRIST\b|\bOPTICAL\b|\bEYE\s*CARE\b|\bEYEWEAR\b|\bCONTACT\s+LENS/), category: 'MEDICAL_EYE_CARE', confidence: 0.8 },
  { id: 'vet', when: has(/\bVETS?\b|\bVETERINARY\b|\bANIMAL\s+(?:HOSPITAL|CLINIC)\b/), category: 'MEDICAL_VETERINARY_SERVICES', confidence: 0.8 },
  { id: 'pharmacy', when: has(/\bPHARMACY\b|\bPHARMACIES\b|\bCHEMISTS?\b|\bDRUG\s?STORE\b|\bPRESCRIPTIONS?\b|\bVITAMINS?\b|\bSUPPLEMENTS?\b|\bNUTRITION\b|\bHEALTH\s+FOOD\b/), category: 'MEDICAL_PHARMACIES_AND_SUPPLEMENTS', confidence: 0.75 },
  { id: 'nursing', when: has(/\bCARE\s+HOME\b|\bNURSING\b|\bHOME\s+CARE\b|\bCARERS\b|\bDOMICILIARY\b/), category: 'MEDICAL_NURSING_CARE', confidence: 0.75 },
  { id: 'primary-care', when: has(/\bMEDICAL\s+(?:CENTRE|PRACTICE)\b|\bSURGERY\b|\bGP\b|\bDOCTORS?\b|\bCLINIC\b|\bHOSPITAL\b|\bHEALTH\s+CENTRE\b|\bNHS\b|\bPRIVATE\s+GP\b|\bWALK\s+IN\s+CENTRE\b/), category: 'MEDICAL_PRIMARY_CARE', confidence: 0.7 },
  { id: 'medical-other', when: has(/\bPHYSIO(?:THERAPY)?\b|\bOSTEOPATH(?:Y|S)?\b|\bCHIROPRACT|\bPODIATR|\bCHIROPOD|\bTHERAPY\b|\bTHERAPIST\b|\bCOUNSELL?ING\b|\bPSYCHOLOG|\bAUDIOLOG|\bHEARING\b|\bACUPUNCTURE\b|\bMASSAGE\s+THERAP/), category: 'MEDICAL_OTHER_MEDICAL', confidence: 0.7 },
  { id: 'gym', when: has(/\bGYMS?\b|\bFITNESS\b|\bLEISURE\s+CENTRE\b|\bLEISURE\b|\bSPORTS?\s+CENTRE\b|\bSWIMMING\s+POOL\b|\bYOGA\b|\bPILATES\b|\bCROSSFIT\b|\bBOXING\s+CLUB\b|\bMARTIAL\s+ARTS\b|\bCLIMBING\b|\bBOULDERING\b|\bTENNIS\s+CLUB\b|\bGOLF\s+CLUB\b|\bBOOTCAMP\b|\bSPIN\s+STUDIO\b|\bPERSONAL\s+TRAIN/), category: 'PERSONAL_CARE_GYMS_AND_FITNESS_CENTERS', confidence: 0.75 },
  { id: 'hair-beauty', when: has(/\bBARBERS?\b|\bBARBERSHOP\b|\bHAIR\b|\bHAIRDRESS|\bSALON\b|\bNAILS?\b|\bBEAUTY\b|\bSPA\b|\bLASH(?:ES)?\b|\bBROWS?\b|\bWAXING\b|\bTANNING\b|\bCOSMETICS?\b|\bAESTHETICS\b|\bMASSAGE\b|\bSKIN\s*CARE\b|\bTATTOO\b|\bPIERCING\b|\bPERFUME(?:RY)?\b|\bFRAGRANCE\b/), category: 'PERSONAL_CARE_HAIR_AND_BEAUTY', confidence: 0.75 },
  { id: 'laundry', when: has(/\bLAUNDR(?:Y|ETTE|ETTES)\b|\bDRY\s+CLEAN|\bLAUNDERETTE\b|\bWASHATERIA\b|\bIRONING\b|\bTAILOR(?:S|ING)?\b|\bALTERATIONS\b|\bSHOE\s+REPAIR/), category: 'PERSONAL_CARE_LAUNDRY_AND_DRY_CLEANING', confidence: 0.75 },
  // Services.
  { id: 'insurance', when: has(/\bINSURANCE\b|\bINSURE\b|\bASSURANCE\b|\bINS\s+(?:PREM|PREMIUM|SERVICES)\b|\bLIFE\s+COVER\b|\bPOLICY\b|\bUNDERWRIT/), category: 'GENERAL_SERVICES_INSURANCE', confidence: 0.75 },
  { id: 'automotive', when: has(/\bGARAGE\b|\bMOTORS\b|\bMOT\b|\bTYRES?\b|\bCAR\s+WASH\b|\bHAND\s+CAR\s+WASH\b|\bVALET(?:ING)?\b|\bAUTO\s+(?:CENTRE|REPAIRS?|SERVICES?|PARTS)\b|\bAUTOCENTRE\b|\bCAR\s+PARTS\b|\bBODYSHOP\b|\bBODY\s+SHOP\s+REPAIR|\bMECHANIC|\bEXHAUST|\bBREAKDOWN\b|\bEURO\s+CAR\s+PARTS\b|\bMICHELIN\b/), category: 'GENERAL_SERVICES_AUTOMOTIVE', confidence: 0.7 },
  { id: 'childcare', when: has(/\bNURSERY\b|\bNURSERIES\b|\bCHILDCARE\b|\bCHILDMINDER\b|\bCHILD\s+CARE\b|\bCRECHE\b|\bPRE-?SCHOOL\b|\bAFTER\s+SCHOOL\s+CLUB\b|\bBREAKFAST\s+CLUB\b|\bNANNY\b|\bBABYSIT/), category: 'GENERAL_SERVICES_CHILDCARE', confidence: 0.75 },
  { id: 'education', when: has(/\bSCHOOLS?\b|\bUNIVERSITY\b|\bUNIV\b|\bCOLLEGE\b|\bACADEMY\b|\bTUITION\b|\bTUTOR(?:S|ING)?\b|\bLESSONS?\b|\bCOURSES?\b|\bTRAINING\b|\bEDUCATION\b|\bLEARNING\b|\bEXAM\s+FEES?\b|\bDRIVING\s+SCHOOL\b|\bMUSIC\s+LESSON/), category: 'GENERAL_SERVICES_EDUCATION', confidence: 0.7 },
  { id: 'legal', when: has(/\bSOLICITORS?\b|\bLAW\s+FIRM\b|\bLEGAL\b|\bBARRISTERS?\b|\bCONVEYANC|\bNOTARY\b|\bCONSULT(?:ING|ANCY|ANTS?)\b|\bLLP\b/), category: 'GENERAL_SERVICES_CONSULTING_AND_LEGAL', confidence: 0.65 },
  { id: 'accounting', when: has(/\bACCOUNTANTS?\b|\bACCOUNTANCY\b|\bBOOKKEEP|\bTAX\s+RETURN\b|\bFINANCIAL\s+(?:PLANNING|ADVISER|ADVICE)\b|\bIFA\b|\bWEALTH\s+MANAGEMENT\b|\bCREDIT\s+(?:REPORT|SCORE)\b|\bEXPERIAN\b|\bEQUIFAX\b|\bCLEARSCORE\b|\bCHECKMYFILE\b/), category: 'GENERAL_SERVICES_ACCOUNTING_AND_FINANCIAL_PLANNING', confidence: 0.7 },
  { id: 'postage', when: has(/\bPOSTAGE\b|\bCOURIER\b|\bPARCEL\b|\bDELIVERY\s+(?:CHARGE|SERVICE)\b|\bSHIPPING\b/), category: 'GENERAL_SERVICES_POSTAGE_AND_SHIPPING', confidence: 0.7 },
  { id: 'storage', when: has(/\bSELF\s+STORAGE\b|\bSTORAGE\b|\bSTORE\s+IT\b|\bLOCKERS?\b/), category: 'GENERAL_SERVICES_STORAGE', confidence: 0.7 },
  // Home.
  { id: 'furniture', when: has(/\bFURNITURE\b|\bSOFAS?\b|\bBEDS\b|\bMATTRESS(?:ES)?\b|\bINTERIORS\b|\bHOMEWARES?\b|\bCARPETS?\b|\bFLOORING\b|\bKITCHENS\b|\bBLINDS\b|\bCURTAINS\b|\bLIGHTING\b/), category: 'HOME_IMPROVEMENT_FURNITURE', confidence: 0.7 },
  { id: 'hardware', when: has(/\bHARDWARE\b|\bDIY\b|\bTIMBER\b|\bBUILDERS?\s+MERCHANTS?\b|\bBUILDING\s+SUPPLIES\b|\bPAINTS?\b|\bTILES?\b|\bTOOLS?\b|\bIRONMONGER/), category: 'HOME_IMPROVEMENT_HARDWARE', confidence: 0.7 },
  { id: 'repairs', when: has(/\bPLUMB(?:ER|ERS|ING)\b|\bELECTRICIANS?\b|\bELECTRICAL\s+(?:SERVICES|CONTRACTORS)\b|\bROOFING\b|\bROOFERS?\b|\bBUILDERS\b|\bBUILDING\s+SERVICES\b|\bDECORAT(?:OR|ORS|ING)\b|\bHANDYMAN\b|\bGLAZING\b|\bWINDOW\s+CLEAN|\bCLEANING\s+SERVICES?\b|\bCLEANERS?\b|\bGARDENING\b|\bGARDENERS?\b|\bLANDSCAP|\bBOILER\b|\bHEATING\b|\bLOCKSMITHS?\b|\bPEST\s+CONTROL\b|\bRENTOKIL\b|\bCHIMNEY\b|\bDRAINAGE\b|\bCARPENT|\bJOINERY\b|\bAPPLIANCE\s+REPAIR/), category: 'HOME_IMPROVEMENT_REPAIR_AND_MAINTENANCE', confidence: 0.7 },
  { id: 'security', when: has(/\bALARMS?\b|\bSECURITY\s+SYSTEMS?\b|\bCCTV\b|\bHOME\s+SECURITY\b/), category: 'HOME_IMPROVEMENT_SECURITY', confidence: 0.7 },
  { id: 'garden', when: has(/\bGARDEN\s+(?:CENTRE|CENTER|SUPPLIES|NURSERY)\b|\bPLANTS?\b|\bNURSERY\s+GARDEN|\bHORTICULT/), category: 'HOME_IMPROVEMENT_OTHER_HOME_IMPROVEMENT', confidence: 0.65 },
  // Entertainment.
  { id: 'gambling', when: has(/\bBET(?:TING)?\b|\bBOOKMAKERS?\b|\bCASINO\b|\bPOKER\b|\bBINGO\b|\bLOTTERY\b|\bSLOTS\b|\bRACECOURSE\b|\bGAMING\s+(?:CLUB|LTD)\b|\bSPORTSBOOK\b/), category: 'ENTERTAINMENT_CASINOS_AND_GAMBLING', confidence: 0.75 },
  { id: 'cinema', when: has(/\bCINEMAS?\b|\bFILMS?\b|\bMOVIES?\b|\bSTREAMING\b|\bTV\s+SUBSCRIPTION\b/), category: 'ENTERTAINMENT_TV_AND_MOVIES', confidence: 0.7 },
  { id: 'music', when: has(/\bMUSIC\b|\bRECORDS\b|\bVINYL\b|\bPODCAST\b|\bAUDIOBOOKS?\b|\bCONCERT\b|\bGIG\b/), category: 'ENTERTAINMENT_MUSIC_AND_AUDIO', confidence: 0.6 },
  { id: 'video-games', when: has(/\bGAMES?\b|\bGAMING\b|\bIN-?GAME\b|\bROBLOX\b|\bFORTNITE\b|\bMINECRAFT\b|\bRIOT\b|\bBLIZZARD\b|\bEA\s+GAMES\b|\bUBISOFT\b/), category: 'ENTERTAINMENT_VIDEO_GAMES', confidence: 0.65 },
  { id: 'events', when: has(/\bTICKETS?\b|\bTHEATRE\b|\bTHEATER\b|\bMUSEUM\b|\bGALLERY\b|\bZOO\b|\bAQUARIUM\b|\bSAFARI\b|\bTHEME\s+PARK\b|\bADVENTURE\s+PARK\b|\bWATER\s+PARK\b|\bBOWLING\b|\bBOWL\b|\bESCAPE\s+ROOM\b|\bLASER\s?QUEST\b|\bTRAMPOLINE\b|\bSTADIUM\b|\bARENA\b|\bFOOTBALL\s+CLUB\b|\bF\.?C\.?\b|\bRUGBY\b|\bCRICKET\s+CLUB\b|\bFESTIVAL\b|\bEXHIBITION\b|\bCASTLE\b|\bGOLF\b|\bMINI\s+GOLF\b|\bKARTING\b|\bPAINTBALL\b|\bSOFT\s+PLAY\b|\bATTRACTION\b|\bCOMEDY\b/), category: 'ENTERTAINMENT_SPORTING_EVENTS_AMUSEMENT_PARKS_AND_MUSEUMS', confidence: 0.65 },
  // General merchandise.
  { id: 'books', when: has(/\bBOOKS?\b|\bBOOKSHOP\b|\bBOOKSELLERS?\b|\bNEWS\b|\bMAGAZINES?\b|\bNEWSPAPERS?\b|\bCOMICS\b|\bSTATIONERS?\b|\bSTATIONERY\b/), category: 'GENERAL_MERCHANDISE_BOOKSTORES_AND_NEWSSTANDS', confidence: 0.65 },
  { id: 'clothing', when: has(/\bCLOTH(?:ING|ES)\b|\bFASHIONS?\b|\bBOUTIQUE\b|\bAPPAREL\b|\bMENSWEAR\b|\bWOMENSWEAR\b|\bKNITWEAR\b|\bLINGERIE\b|\bSHOES?\b|\bFOOTWEAR\b|\bTRAINERS\b|\bJEWELL?(?:ERS|ERY|RY)\b|\bJEWELLERS\b|\bWATCHES\b|\bHANDBAGS?\b|\bACCESSORIES\b|\bDENIM\b|\bOUTFITTERS\b|\bUNIFORMS?\b|\bVINTAGE\b|\bPANDORA\b|\bH\s+SAMUEL\b|\bERNEST\s+JONES\b|\bGOLDSMITHS\b|\bWARREN\s+JAMES\b/), category: 'GENERAL_MERCHANDISE_CLOTHING_AND_ACCESSORIES', confidence: 0.7 },
  { id: 'electronics', when: has(/\bELECTRONICS?\b|\bCOMPUTERS?\b|\bPHONES?\s+(?:SHOP|REPAIR|STORE)\b|\bLAPTOPS?\b|\bCAMERAS?\b|\bAUDIO\b|\bHI-?FI\b|\bAPPLIANCES?\b|\bTECH\b|\bGADGETS?\b|\bPRINTER\s+INK\b|\bCARTRIDGE/), category: 'GENERAL_MERCHANDISE_ELECTRONICS', confidence: 0.65 },
  { id: 'pets', when: has(/\bPETS?\b|\bPET\s+(?:SHOP|STORE|SUPPLIES|FOOD)\b|\bAQUATICS\b|\bDOG\s+(?:FOOD|GROOM)|\bGROOMING\b|\bKENNELS?\b|\bCATTERY\b|\bANIMAL\s+FEED\b/), category: 'GENERAL_MERCHANDISE_PET_SUPPLIES', confidence: 0.65 },
  { id: 'sporting-goods', when: has(/\bSPORTS?\b|\bOUTDOORS?\b|\bCYCLES\b|\bBIKES?\b|\bCYCLING\b|\bRUNNING\b|\bFISHING\s+TACKLE\b|\bGOLF\s+SHOP\b|\bSKI\s+SHOP\b|\bCAMPING\b/), category: 'GENERAL_MERCHANDISE_SPORTING_GOODS', confidence: 0.6 },
  { id: 'gifts', when: has(/\bGIFTS?\b|\bCARDS?\s+(?:SHOP|&\s+GIFTS)\b|\bFLORIST\b|\bFLOWERS?\b|\bBALLOONS?\b|\bPARTY\s+(?:SHOP|STORE)\b|\bSOUVENIRS?\b|\bCRAFTS?\b|\bTOYS?\b|\bHOBBIES\b|\bNOVELT|\bINTERFLORA\b|\bBLOOM\b/), category: 'GENERAL_MERCHANDISE_GIFTS_AND_NOVELTIES', confidence: 0.65 },
  { id: 'office', when: has(/\bOFFICE\s+(?:SUPPLIES|DEPOT|WORLD)\b|\bPRINT(?:ING|ERS)?\s+(?:SHOP|SERVICES)\b|\bCOPY\s+SHOP\b/), category: 'GENERAL_MERCHANDISE_OFFICE_SUPPLIES', confidence: 0.65 },
  { id: 'tobacco', when: has(/\bTOBACCO\b|\bCIGAR(?:ETTE)?S?\b|\bVAPES?\b|\bVAPING\b|\bSHISHA\b|\bE-?LIQUID/), category: 'GENERAL_MERCHANDISE_TOBACCO_AND_VAPE', confidence: 0.75 },
  { id: 'discount', when: has(/\bPOUND\b|\bDISCOUNT\b|\bBARGAINS?\b|\bCLEARANCE\b|\bOUTLET\b|\b99P\b|\bEVERYTHING\s+\d|\bCHARITY\s+SHOP\b/), category: 'GENERAL_MERCHANDISE_DISCOUNT_STORES', confidence: 0.6 },
  { id: 'department', when: has(/\bDEPARTMENT\s+STORE\b|\bDEPT\s+STORE\b/), category: 'GENERAL_MERCHANDISE_DEPARTMENT_STORES', confidence: 0.65 },
  { id: 'marketplace', when: has(/\bMARKETPLACE\b|\bMKTP\b|\bMKTPLACE\b/), category: 'GENERAL_MERCHANDISE_ONLINE_MARKETPLACES', confidence: 0.65 },
];

export const ALL_RULES: readonly Rule[] = [...STRUCTURAL_RULES, ...KEYWORD_RULES];
